"""The finance desk, `/desk`: the operator's staff at work, each role seeing what its role allows.

A module per part of the desk, each adding its routes to the one
blueprint: statements and closing a period (finance, admin), charts,
support (finding a member, a card blocked, an adjustment), admin
(partners, staff), one partner's settings, the tier ladder.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template, url_for

from network.pages import security, signed_in
from network.parties.roles import ADMIN, FINANCE, STAFF_ROLES, SUPPORT

blp = security.guard(Blueprint("desk", __name__, url_prefix="/desk"))

#: Who reads statements and closes periods, who helps members, who runs the network.
MONEY, HELP, RUN = (ADMIN, FINANCE), (ADMIN, SUPPORT), (ADMIN,)


@blp.route("", methods=["GET"])
@signed_in.needs(STAFF_ROLES)
def home():
    return render_template("desk/home.html", sections=desk_sections()[1:])


#: The desk's sections, each with the roles that open it: the menu shows a person only what they may open.
SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("desk.home", "Desk", STAFF_ROLES),
    ("desk.statements", "Statements", MONEY),
    ("desk.close", "Close a period", MONEY),
    ("desk.charts", "Charts", MONEY),
    ("desk.analytics", "Analytics", MONEY),
    ("desk.members", "Members", HELP),
    ("desk.partners", "Partners", MONEY),
    ("desk.staff", "Staff", RUN),
    ("desk.tiers", "Tiers", STAFF_ROLES),
]


def desk_sections() -> list[tuple[str, str]]:
    caller = g.get("principal")
    role = caller.role if caller is not None else None
    return [(url_for(endpoint), label) for endpoint, label, allowed in SECTIONS if role in allowed]


@blp.app_context_processor
def _sections():
    return {"desk_sections": desk_sections}


from network.pages.desk import (  # noqa: E402, F401  (their routes)
    admin,
    closing,
    partner_settings,
    programme,
    statements,
    support,
    tiers,
    trends,
)
