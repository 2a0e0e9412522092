"""Partners: created by the operator, each readable by itself and the operator."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import current_app, request, url_for
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import hub, idempotent_write, load_adapter_config, now, only_itself, read, requires
from network.api.idempotency import ShownOnce
from network.api.schemas import (
    AdapterSet,
    ContractSet,
    ContractsOut,
    PartnerAmend,
    PartnerCreate,
    PartnerCreated,
    PartnerOut,
)
from network.earning import unfunded
from network.errors import BadRequest, Invalid
from network.parties import contracts, funding
from network.parties.auth import bump_settings_version
from network.parties.registry import NewPartner, PartnerRef, amend, create_partner, get_partner, set_adapter, set_rules
from network.parties.roles import ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY, PARTNER_ROLES, STAFF_ROLES
from partners.earning import InvalidRules, compile_rules, earn_rate_rules
from settlement.liability import estimates, parse_breakage

blp = Blueprint("partners", __name__, description="Partner retailers")

_SECRET_WORDS = ("secret", "key", "password", "token")
#: What a secret-looking adapter setting reads as: the hub never shows one back.
MASKED = "********"


def partner_view(partner: PartnerRef) -> dict:
    """A partner as the API shows it (secrets masked): GET /v1/partners/<slug>, and the pages that show one."""
    adapter = hub().adapters.get(partner.adapter)
    return {
        "slug": partner.slug,
        "name": partner.name,
        "timezone": partner.timezone,
        "currency": partner.currency,
        "adapter": partner.adapter,
        "adapter_config": {
            key: MASKED if any(word in key.lower() for word in _SECRET_WORDS) else value
            for key, value in partner.adapter_config.items()
        },
        "rules": partner.rules,
        "pending_days": partner.pending_days,
        "kind": partner.kind,
        "points_per_unit": None if partner.points_per_unit is None else str(partner.points_per_unit),
        "inbound_url": public_url(url_for("inbound.inbound", slug=partner.slug)) if getattr(adapter, "signed", False) else None,
        "inbound_topics": list(getattr(adapter, "topics", ())),
        "created_at": partner.created_at,
    }


def public_url(path: str) -> str:
    """The hub's address for `path`: COALITION_PUBLIC_URL's origin, never the request's Host (anyone can send one);
    without it the path alone, which is right whatever name the hub is reached by."""
    public = current_app.config.get("COALITION_PUBLIC_URL")
    return public.rstrip("/") + path if public else path


def _adapter_and_config(name: str, raw: dict) -> dict:
    adapter = hub().adapters.get(name)
    if adapter is None:
        known = ", ".join(sorted(hub().adapters))
        raise Invalid("Unknown adapter", {"adapter": [f"must be one of: {known}"]})
    load_adapter_config(adapter, raw)
    return raw


def _checked_rules(raw) -> list:
    try:
        compile_rules(hub().rules, raw)
    except InvalidRules as exc:
        raise Invalid("The earning rules are invalid", exc.fields, code="invalid_rules") from None
    return list(raw)


@blp.route("/partners", methods=["POST"])
@requires(ADMIN)
@writes
@blp.arguments(PartnerCreate)
@blp.response(201, PartnerCreated)
@answers("partner_exists", "invalid_rules")
def create(args):
    """Add a partner; the answer carries its API key, shown this once.

    The hub keeps only the key's hash: a replay with the same Idempotency-Key answers `"api_key": null,
    "api_key_shown": "once"`.
    """
    return idempotent_write(new_partner(args))


def new_partner(args: dict) -> Callable[[Session], dict]:
    """The work of adding a partner from `PartnerCreate`'s fields, checked before any is done (rules, adapter), its
    change said to the audit trail: what this API and the desk both commit. The answer holds the key, once."""
    if "earn_rate" in args and "rules" in args:
        raise Invalid("Give earn_rate or rules, not both", {"earn_rate": ["is shorthand for rules; drop one"]})
    rules = _checked_rules(args.pop("rules", None) or earn_rate_rules(args.pop("earn_rate", "1")))
    args.pop("earn_rate", None)
    args["adapter_config"] = _adapter_and_config(args["adapter"], args["adapter_config"])

    def work(session):
        partner, key = create_partner(session, NewPartner(**args, rules=rules), now())
        view = partner_view(partner)
        audit_trail.change(None, view, partner_id=partner.id, target=f"/v1/partners/{partner.slug}")
        return {**view, "api_key": ShownOnce(key)}

    return work


@blp.route("/partners/<slug>", methods=["GET"])
@requires(STAFF_ROLES, PARTNER_ROLES)
@blp.response(200, PartnerOut)
@answers("unknown_partner", "wrong_partner")
def show(slug):
    """A partner's settings: adapter (secrets masked), earning rules, return window, points rate.

    The operator's staff read any partner; a partner's keys and people only it (403 `wrong_partner` otherwise).
    """
    only_itself(slug)
    return read(lambda session: partner_view(get_partner(session, slug)))


@blp.route("/partners/<slug>", methods=["PATCH"])
@requires(ADMIN)
@writes
@blp.arguments(PartnerAmend)
@blp.response(200, PartnerOut)
@answers("unknown_partner")
def patch(args, slug):
    """Change a partner's name, time zone or return window (`pending_days`, for sales booked from now on).

    Admins only. Fields left out keep their value.
    """
    return idempotent_write(partner_change(slug, lambda session: amend(session, slug, args)), status=200)


@blp.route("/partners/<slug>/adapter", methods=["PUT"])
@requires(ADMIN, PARTNER_ADMIN)
@writes
@blp.arguments(AdapterSet)
@blp.response(200, PartnerOut)
@answers("unknown_partner", "wrong_partner")
def put_adapter(args, slug):
    """Choose the partner's adapter and its settings (a webhook secret, a CSV column map).

    An admin, or the partner's own admin. The settings are checked by the adapter's own schema, so a bad setting is a 422 naming
    `adapter_config.<field>`, never a failure at the first sale.
    """
    only_itself(slug)
    return idempotent_write(adapter_change(slug, args["adapter"], args["adapter_config"]), status=200)


def adapter_change(slug: str, adapter: str, config: dict) -> Callable[[Session], dict]:
    """The work of choosing a partner's adapter and its settings, checked by the adapter's own schema first (422
    naming `adapter` or `adapter_config.<field>`): what this API and the pages both commit."""
    checked = _adapter_and_config(adapter, config)
    return partner_change(slug, lambda session: set_adapter(session, slug, adapter, checked))


@blp.route("/partners/<slug>/rules", methods=["PUT"])
@requires(ADMIN)
@writes
@blp.doc(
    requestBody={
        "required": True,
        "description": 'A JSON list of rules, each `{"rule": <name>, ...its parameters}`, and for a campaign its '
                       'window: `valid_from` and `valid_until`, dates or local times in the partner\'s zone without '
                       'an offset ("2026-12-01", "2026-12-24T18:00"; a date as `valid_until` includes that day).',
        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}},
                                          "example": [{"rule": "base_rate", "rate": "1"},
                                                      {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"},
                                                      {"rule": "category_multiplier", "category": "toys",
                                                       "multiplier": "3", "valid_from": "2026-12-01",
                                                       "valid_until": "2026-12-24T18:00"}]}},
    }
)
@blp.response(200, PartnerOut)
@answers("unknown_partner", "invalid_rules", "unreadable_body", "body_too_deep", "payload_too_large")
def put_rules(slug):
    """Replace the partner's earning rules; each is validated by its plugin's own schema.

    Admins only. The body is the whole list: rules not in it are dropped. A rule whose plugin is not installed is
    refused (`invalid_rules`, naming `<index>.rule`).
    """
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):
        raise BadRequest("Send the rules as a JSON list", code="unreadable_body") from None
    return idempotent_write(rules_change(slug, body), status=200)


def rules_change(slug: str, rules) -> Callable[[Session], dict]:
    """The work of replacing a partner's earning rules, each checked by its plugin's schema first (422 `invalid_rules`
    naming `rules.<index>.<field>`): what this API and the desk both commit."""
    checked = _checked_rules(rules)
    return partner_change(slug, lambda session: set_rules(session, slug, checked))


@blp.route("/partners/<slug>/contract", methods=["PUT"])
@requires(ADMIN, FINANCE)
@writes
@blp.arguments(ContractSet)
@blp.response(201, ContractsOut)
@answers("unknown_partner", "contract_version_exists", "period_closed")
def put_contract(args, slug):
    """Add a contract version (rates are money per point, in the network's settlement currency); earlier versions stay.

    Admins and finance. A version applies to points booked from its `effective_from`; settlement values each point under
    the version in force when it was booked, so a new version never reprices the past: one starting inside a closed
    period is refused (`period_closed`).
    """
    return idempotent_write(contract_version(slug, args))


def contract_version(slug: str, args: dict) -> Callable[[Session], dict]:
    """The work of adding a contract version from `ContractSet`'s fields (409 `contract_version_exists` when one starts
    at that instant), in the network's settlement currency: what this API and the desk both commit."""
    currency = current_app.config["COALITION_SETTLEMENT_CURRENCY"]

    def work(session):
        partner = get_partner(session, slug)
        before = contracts_view(session, partner)
        contracts.add_version(session, partner, issue_fee=args["issue_fee"], redeem_rate=args["redeem_rate"],
                              currency=currency, effective_from=args["effective_from"] or now(), now=now())
        if "funding" in args:
            control(session, partner, args, currency)
        after = contracts_view(session, partner)
        audit_trail.change(before, after, partner_id=partner.id)
        return after

    return work


@blp.route("/partners/<slug>/contract", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY)
@blp.response(200, ContractsOut)
@answers("unknown_partner", "wrong_partner")
def get_contract(slug):
    """Every version of the partner's contract, oldest first.

    Admins and finance read any partner's; a partner's admin and keys only its own.
    """
    only_itself(slug)
    return read(lambda session: contracts_view(session, get_partner(session, slug)))


def contracts_view(session, partner: PartnerRef) -> dict:
    """The partner's contract versions as GET /v1/partners/<slug>/contract answers them, oldest first."""
    return {"slug": partner.slug, "versions": [v.view() for v in contracts.versions(session, {partner.id})],
            "funding": funding.settings(session, partner.id)}


def control(session: Session, partner: PartnerRef, args: dict, currency: str) -> None:
    """Set the partner's funding: a point then draws its issue fee plus its expected redemption value (the
    liability's value per point for it, else its own redeem rate), in force for every worker at its next request.

    A higher limit, or control lifted, releases the sales that waited for funds as far as it now covers them."""
    mode = None if args["funding"] == "none" else args["funding"]
    at = now()
    override = parse_breakage(current_app.config["COALITION_EXPECTED_BREAKAGE"])
    found = estimates(session, at, currency, override).get(partner.id) if mode else None
    value = None if found is None else found.value
    point_cost = args["issue_fee"] + (args["redeem_rate"] if value is None else value)
    unfunded.release(session, partner, at, funds=lambda: funding.configure(
        session, partner.id, funding=mode, credit_limit=args.get("credit_limit"), point_cost=point_cost, now=at,
        over_limit=args.get("over_limit")), room=lambda: funding.room_under(
        session, partner.id, funding=mode, credit_limit=args.get("credit_limit"), point_cost=point_cost))
    bump_settings_version(session)


def partner_change(slug: str, change: Callable[[Session], PartnerRef]) -> Callable[[Session], dict]:
    """A change of a partner's settings, with the partner's view before and after in the audit trail."""

    def work(session):
        partner = get_partner(session, slug)
        after = partner_view(change(session))
        bump_settings_version(session)  # every worker's cached principals of this partner carry the old settings
        audit_trail.change(partner_view(partner), after, partner_id=partner.id)
        return after

    return work
