"""One partner at the desk, `/desk/partners/<slug>`: what it is set to, and the forms that change it.

Each form is one of the API's writes, made by the API's own function with
its schema's checks (`partner_change`, `adapter_change`, `rules_change`,
`contract_version`, `points_rate_change`), so its audit event carries the
partner before and after and the settings version is raised where the
API raises it. Each opens to the roles the API's route takes: admins run
the partner; finance reads it and adds contract versions, as PUT contract
lets it, and nothing else.
"""

from __future__ import annotations

import json
import re
from datetime import timezone

from flask import g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from network.api.common import hub, now, read
from network.api.partners import contract_version, contracts_view, partner_change, partner_view, rules_change
from network.api.rewards import points_rate_change
from network.api.schemas import ContractSet, PartnerAmend, PointsRateSet
from network.errors import DomainError
from network.pages import settings_forms, signed_in
from network.pages.desk import MONEY, RUN, blp
from network.pages.desk.closing import parse_end
from network.pages.settings_forms import Refused
from network.parties.registry import amend, get_partner
from network.parties.roles import ADMIN
from partners.earning import InvalidRules, compile_rules

#: Each form's fields, as the API's schema names them.
FIELDS = {
    "details": ("name", "timezone", "pending_days"),
    "adapter": ("adapter", "adapter_config"),
    "rules": ("rules",),
    "contract": ("issue_fee", "redeem_rate", "effective_from"),
    "points-rate": ("points_per_unit",),
}
#: What a saved form says on the page it returns to.
DONE = {
    "details": "The partner's details are saved.",
    "adapter": "The adapter is saved: the partner's next transactions are read with it.",
    "rules": "The earning rules are saved: they apply to sales booked from now on.",
    "contract": "The contract version is added: points booked from its start are valued under it.",
    "points-rate": "The points rate is saved: redemptions by amount use it from now on.",
}
#: A rule's stage, as the partner's people read it.
STAGES = {"gate": "condition", "base": "base points", "bonus": "bonus", "limit": "limit", "event": "on an event"}
#: An example rule list for the rules form's help.
EXAMPLE = json.dumps([{"rule": "base_rate", "rate": "1"},
                      {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"},
                      {"rule": "cap", "max_points": 500}], indent=2)
#: A whole number as a form's text gives it (the schema then says what range it takes).
WHOLE = re.compile(r"-?[0-9]{1,16}")


@blp.route("/partners/<slug>", methods=["GET"])
@signed_in.needs(MONEY)
def partner(slug: str):
    return _page(slug, done=DONE.get(request.args.get("done", "")))


@blp.route("/partners/<slug>/details", methods=["POST"])
@signed_in.needs(RUN)
def partner_details(slug: str):
    """As PATCH /v1/partners/<slug>: its name, time zone and return window."""

    def save():
        given = settings_forms.typed(*FIELDS["details"])
        days = given["pending_days"]
        try:
            args = PartnerAmend().load({**given, "pending_days": int(days) if WHOLE.fullmatch(days) else days})
        except ValidationError as error:
            raise Refused.invalid(error) from None
        _write(partner_change(slug, lambda session: amend(session, slug, args)), "name")

    return _saved(slug, "details", save)


@blp.route("/partners/<slug>/adapter", methods=["POST"])
@signed_in.needs(RUN)
def partner_adapter(slug: str):
    """As PUT /v1/partners/<slug>/adapter."""
    return _saved(slug, "adapter", lambda: settings_forms.set_adapter(slug))


@blp.route("/partners/<slug>/rules", methods=["POST"])
@signed_in.needs(RUN)
def partner_rules(slug: str):
    """As PUT /v1/partners/<slug>/rules: the whole list, checked by each rule's plugin."""

    def save():
        rules = settings_forms.json_text(request.form.get("rules") or "", "rules")
        try:
            work = rules_change(slug, rules)
        except DomainError as refused:
            raise Refused.of(refused, "rules") from None
        _write(work, "rules")

    return _saved(slug, "rules", save)


@blp.route("/partners/<slug>/contract", methods=["POST"])
@signed_in.needs(MONEY)
def partner_contract(slug: str):
    """As PUT /v1/partners/<slug>/contract: a new version, from the moment given (UTC) or now."""

    def save():
        given = settings_forms.typed(*FIELDS["contract"])
        start = parse_end(given["effective_from"]) if given["effective_from"] else None
        if given["effective_from"] and start is None:
            raise Refused({"effective_from": "Give the start as a date and a time (UTC), e.g. 2026-04-01T00:00."}, 422,
                          "Some fields are not right")
        try:
            args = ContractSet().load({"issue_fee": given["issue_fee"], "redeem_rate": given["redeem_rate"],
                                       "effective_from": start.isoformat() if start else None})
        except ValidationError as error:
            raise Refused.invalid(error) from None
        _write(contract_version(slug, args), "effective_from")

    return _saved(slug, "contract", save)


@blp.route("/partners/<slug>/points-rate", methods=["POST"])
@signed_in.needs(RUN)
def partner_points_rate(slug: str):
    """As PUT /v1/partners/<slug>/points-rate."""

    def save():
        try:
            args = PointsRateSet().load(settings_forms.typed(*FIELDS["points-rate"]))
        except ValidationError as error:
            raise Refused.invalid(error) from None
        _write(points_rate_change(slug, args["points_per_unit"]), "points_per_unit")

    return _saved(slug, "points-rate", save)


def _write(work, field: str) -> None:
    try:
        signed_in.write(work)
    except DomainError as refused:
        raise Refused.of(refused, field) from None


def _saved(slug: str, form: str, save):
    """Run a form's save: back to the page with its notice, or the page again with the refusal by field."""
    read(lambda session: get_partner(session, slug))  # 404 before any form of a partner that is not
    try:
        save()
    except Refused as refused:
        return _page(slug, failed=form, refused=refused, typed=settings_forms.sent(*FIELDS[form]))
    return redirect(url_for("desk.partner", slug=slug, done=form))


def _page(slug: str, *, failed: str | None = None, refused: Refused | None = None, typed: dict | None = None,
          done: str | None = None):
    def work(session):
        found = get_partner(session, slug)
        return partner_view(found), contracts_view(session, found)["versions"]

    shown, versions = read(work)
    at = now()
    current = next((v for v in reversed(versions) if v["effective_from"] <= at), None)
    latest = versions[-1] if versions else {}
    opened = {"name": shown["name"], "timezone": shown["timezone"], "pending_days": str(shown["pending_days"]),
              **settings_forms.adapter_typed(shown), "rules": json.dumps(shown["rules"], indent=2, ensure_ascii=False),
              "issue_fee": latest.get("issue_fee", ""), "redeem_rate": latest.get("redeem_rate", ""), "effective_from": "",
              "points_per_unit": shown["points_per_unit"] or ""}
    errors = refused.errors if refused else {}
    page = render_template(
        "desk/partner.html", partner=shown, versions=versions, current=current, rules=in_words(shown["rules"]),
        adapters=settings_forms.adapters(), typed={**opened, **(typed or {})}, errors=errors, failed=failed,
        refused=refused.message if refused else None, done=done, runs=g.principal.role == ADMIN, example=EXAMPLE,
        now=at.astimezone(timezone.utc),
        listed={name: settings_forms.errors_under(errors, name) for name in ("adapter_config", "rules")})
    return page, refused.status if refused else 200


def in_words(rules: list) -> list[dict]:
    """Each rule with its stage and the phrase its plugin gives it (`weekend x2 (sat, sun)`); None where the plugin
    is not installed here or no longer takes the parameters."""
    said = []
    for entry in rules:
        name = entry.get("rule") if isinstance(entry, dict) else None
        try:
            ((rule, params),) = compile_rules(hub().rules, [entry]).rules
        except InvalidRules:
            said.append({"rule": name, "stage": None, "words": None})
            continue
        said.append({"rule": name, "stage": STAGES.get(rule.stage, rule.stage), "words": rule.describe(params)})
    return said
