"""The finance desk, `/desk`: the operator's staff at work, each role seeing what its role allows.

A module per part of the desk, each adding its routes to the one
blueprint: statements and closing a period (finance, admin), charts,
support (finding a member, a card blocked, an adjustment), admin
(partners, tiers, staff).
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, url_for

from network.pages import security, signed_in
from network.parties.roles import STAFF_ROLES

blp = security.guard(Blueprint("desk", __name__, url_prefix="/desk"))


@blp.route("", methods=["GET"])
@signed_in.needs(STAFF_ROLES)
def home():
    return render_template("desk/home.html")


#: The desk's sections, each with the roles that open it: the menu shows a person only what they may open.
SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [("desk.home", "Desk", STAFF_ROLES)]


@blp.app_context_processor
def _sections():
    def desk_sections() -> list[tuple[str, str]]:
        caller = g.get("principal")
        role = caller.role if caller is not None else None
        return [(url_for(endpoint), label) for endpoint, label, allowed in SECTIONS if role in allowed]

    return {"desk_sections": desk_sections}
