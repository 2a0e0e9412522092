"""The partner's portal, `/portal/<slug>`: a partner's own team at work on its own figures, keys and settings.

Every page names its partner in the path, and a partner's people see only
their own: another partner's pages are a 404 to them, as if they did not
exist (the operator's admins may open any partner's, to help).
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for

from network.api.common import hub
from network.errors import NotFound
from network.pages import security, signed_in
from network.parties.registry import PartnerRef, get_partner, listed
from network.parties.roles import ADMIN, PARTNER_USER_ROLES

blp = security.guard(Blueprint("portal", __name__, url_prefix="/portal"))
#: Who may open a portal: the partner's own people, and the operator's admins (any partner's).
PEOPLE = (ADMIN, *PARTNER_USER_ROLES)


@blp.route("", methods=["GET"])
@signed_in.needs(PEOPLE)
def home():
    caller = g.principal
    if caller.partner is not None:
        return redirect(url_for("portal.partner_home", slug=caller.partner.slug))
    return render_template("portal/choose.html", partners=hub().db.read(_partners))


def _partners(session):
    return listed(session, after=None, limit=500)


def partner(slug: str) -> PartnerRef:
    """The partner a portal page is for; another partner's is a 404 (`NotFound`), the same as one that does not exist."""
    caller = g.principal
    if caller.partner is not None and caller.partner.slug != slug:
        raise NotFound(f"No partner {slug}", {"slug": [slug]}, code="unknown_partner")
    return hub().db.read(lambda session: get_partner(session, slug))


@blp.route("/<slug>", methods=["GET"])
@signed_in.needs(PEOPLE)
def partner_home(slug: str):
    return render_template("portal/home.html", partner=partner(slug))


#: The portal's sections (endpoint, label, roles): a partner's staff see fewer than its admins.
SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [("portal.partner_home", "Today", PEOPLE)]


@blp.app_context_processor
def _sections():
    def portal_sections(shown: PartnerRef) -> list[tuple[str, str]]:
        caller = g.get("principal")
        role = caller.role if caller is not None else None
        return [(url_for(endpoint, slug=shown.slug), label) for endpoint, label, allowed in SECTIONS if role in allowed]

    return {"portal_sections": portal_sections}
