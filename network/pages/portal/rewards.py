"""The partner's reward catalogue in the portal: read by all its people, kept by its admins.

A change goes through the API's functions (`add_reward_to`,
`change_reward_of`), checked by the API's own schemas, so it bumps the
settings version as the API's does and every worker's nudges and tills see
the new catalogue at their next request.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError

from network.api.common import hub
from network.api.rewards import add_reward_to, change_reward_of
from network.api.schemas import RewardChange, RewardCreate
from network.errors import DomainError
from network.pages import signed_in
from network.pages.portal import ADMINS, PEOPLE, blp, partner
from network.spending import rewards

_WHOLE = ("points", "stock", "per_member_limit")


@blp.route("/<slug>/rewards", methods=["GET"], endpoint="rewards")
@signed_in.needs(PEOPLE)
def rewards_page(slug: str):
    return _page(partner(slug), changed=request.args.get("changed"))


@blp.route("/<slug>/rewards", methods=["POST"])
@signed_in.needs(ADMINS)
def add_reward(slug: str):
    shown = partner(slug)
    given = {name: (request.form.get(name) or "").strip() for name in ("sku", "name", *_WHOLE)}
    try:
        args = _load(RewardCreate(), given, required=("points",))
        signed_in.write(lambda session: add_reward_to(session, slug, args))
    except _Refused as refused:
        return _page(shown, given=given, errors=refused.errors), 422
    except DomainError as refused:  # 409 reward_exists
        return _page(shown, given=given, errors={"sku": refused.message}), refused.status
    return redirect(url_for("portal.rewards", slug=slug, changed=args["sku"]))


@blp.route("/<slug>/rewards/<sku>", methods=["GET"])
@signed_in.needs(ADMINS)
def edit_reward(slug: str, sku: str):
    shown = partner(slug)
    found = hub().db.read(lambda session: rewards.one(session, shown.id, sku))
    return render_template("portal/reward.html", partner=shown, reward=found, given=_as_form(found), errors={})


@blp.route("/<slug>/rewards/<sku>", methods=["POST"])
@signed_in.needs(ADMINS)
def change_reward(slug: str, sku: str):
    shown = partner(slug)
    found = hub().db.read(lambda session: rewards.one(session, shown.id, sku))
    given = {name: (request.form.get(name) or "").strip() for name in ("name", *_WHOLE)}
    try:
        args = _load(RewardChange(), given, required=("name", "points"))
    except _Refused as refused:
        return render_template("portal/reward.html", partner=shown, reward=found, given=given, errors=refused.errors), 422
    args["active"] = request.form.get("active") == "yes"
    signed_in.write(lambda session: change_reward_of(session, slug, sku, args))
    return redirect(url_for("portal.rewards", slug=slug, changed=sku))


class _Refused(Exception):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors


def _load(schema: Schema, given: dict[str, str], *, required: tuple[str, ...]) -> dict:
    """A form's text as the API's schema loads JSON: whole numbers read as such, an empty optional one as none."""
    errors, data = {}, {}
    for name, text in given.items():
        if name in _WHOLE and text:
            if not text.lstrip("-").isdigit() or len(text) > 12:
                errors[name] = "Give a whole number."
                continue
            data[name] = int(text)
        elif name in _WHOLE:
            if name in required:
                errors[name] = "Give a whole number."
                continue
            data[name] = None
        else:
            data[name] = text
    try:
        loaded = schema.load(data)
    except ValidationError as refused:
        errors.update({name: " ".join(map(str, said)) for name, said in refused.messages.items() if name not in errors})
    if errors:
        raise _Refused(errors)
    return loaded


def _as_form(found: dict) -> dict[str, str]:
    return {name: "" if found[name] is None else str(found[name]) for name in ("name", *_WHOLE)}


def _page(shown, *, given: dict | None = None, errors: dict | None = None, changed: str | None = None) -> str:
    listed = hub().db.read(lambda session: rewards.catalogue(session, shown.id, retired=True))
    return render_template("portal/rewards.html", partner=shown, listed=listed, given=given or {}, errors=errors or {},
                           changed=changed, keeps=g.principal.role in ADMINS)
