"""The partner's portal, `/portal/<slug>`: a partner's own team at work on its own figures, keys and settings.

Every page names its partner in the path, and a partner's people see only
their own: another partner's pages are a 404 to them, as if they did not
exist (the operator's admins may open any partner's, to help). A module per
section, each adding its routes to this one blueprint.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from network.api.common import hub
from network.errors import NotFound
from network.pages import security, signed_in
from network.parties.registry import PartnerRef, get_partner, listed
from network.parties.roles import ADMIN, PARTNER_ADMIN, PARTNER_USER_ROLES

_portal = Blueprint("portal", __name__, url_prefix="/portal")
#: Who may open a portal: the partner's own people, and the operator's admins (any partner's).
PEOPLE = (ADMIN, *PARTNER_USER_ROLES)
#: Who keeps a partner's keys, webhook, catalogue and reconciliation: its admins, and the operator's.
ADMINS = (ADMIN, PARTNER_ADMIN)
#: Who books a file: the partner's admins, as POST /v1/transactions/batch takes them (the operator books nothing
#: for a partner). Each page opens to the people the API's route takes, no more.
UPLOADERS = (PARTNER_ADMIN,)
#: Room for a form's other fields around a file of COALITION_MAX_BATCH_BYTES.
ENVELOPE_BYTES = 64 * 1024


@_portal.before_request
def _room_for_a_file():
    """A view that takes a file reads up to COALITION_MAX_BATCH_BYTES: set before the CSRF check parses the form."""
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "takes_a_file", False):
        request.max_content_length = current_app.config["COALITION_MAX_BATCH_BYTES"] + ENVELOPE_BYTES


blp = security.guard(_portal)  # after the hook above, so the CSRF check parses the form under the file's limit


def takes_a_file(view):
    """Mark a view whose form carries a file (under `@blp.route`, above the rest)."""
    view.takes_a_file = True
    return view


def too_large() -> str:
    limit = current_app.config["COALITION_MAX_BATCH_BYTES"]
    return f"The file is larger than this hub takes ({limit:,} bytes). Split it and send each part."


def over_the_limit(sent) -> bool:
    """Whether an uploaded file (a werkzeug FileStorage, spooled to disk) is over COALITION_MAX_BATCH_BYTES."""
    stream = sent.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size > current_app.config["COALITION_MAX_BATCH_BYTES"]


@blp.errorhandler(RequestEntityTooLarge)
def _too_large(error):
    return render_template("message.html", title="The file is too large", text=too_large(), again=False), 413


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


#: The portal's sections (endpoint, label, roles): a partner's staff see fewer than its admins.
SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("portal.partner_home", "Today", PEOPLE),
    ("portal.upload", "Upload", UPLOADERS),
    ("portal.rewards", "Rewards", PEOPLE),
    ("portal.webhook", "Webhook", ADMINS),
    ("portal.adapter", "Adapter", ADMINS),
    ("portal.keys", "API keys", ADMINS),
    ("portal.settlement", "Settlement", PEOPLE),
    ("portal.analytics", "Analytics", PEOPLE),
]


@blp.app_context_processor
def _sections():
    def portal_sections(shown: PartnerRef) -> list[tuple[str, str]]:
        caller = g.get("principal")
        role = caller.role if caller is not None else None
        return [(url_for(endpoint, slug=shown.slug), label) for endpoint, label, allowed in SECTIONS if role in allowed]

    return {"portal_sections": portal_sections}


from network.pages.portal import adapter, analytics, dashboard, keys, rewards, settlement, upload, webhook  # noqa: E402,F401  (their routes)
