"""Reading the audit trail: admins read all of it, a partner's admin its own partner's. Nothing writes here."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from flask import request
from flask_smorest import Blueprint

from network.api.access_schemas import AuditPage, AuditQuery
from network.api.answers import answers
from network.api.common import principal, read, requires
from network.errors import Invalid
from network.parties import audit
from network.parties.roles import ADMIN, PARTNER_ADMIN

blp = Blueprint("audit", __name__, description="The audit trail")


@blp.route("/audit-events", methods=["GET"])
@requires(ADMIN, PARTNER_ADMIN)
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditPage)
@answers()
def audit_events(query):
    """Who wrote what, when and from where, newest first; for configuration changes the value before and after.

    Filter by `actor`, `target` (a path and everything below it), `action` and time (`from`, `to`); follow `next`
    for the next page. A partner's admin sees the events of its own partner only.
    """
    caller = principal()
    found = audit.Filter(actor=query.get("actor"), target=query.get("target"), action=query.get("action"),
                         since=query.get("since"), until=query.get("until"),
                         partner_id=caller.partner.id if caller.partner else None)
    after_id = _cursor(query.get("cursor"))
    limit = query["limit"]
    events = read(lambda session: audit.page(session, found, after_id=after_id, limit=limit + 1))
    more = len(events) > limit
    events = events[:limit]
    return {"items": events, "next": _next(events[-1]["id"]) if more else None}


def _cursor(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Invalid("Not a cursor of this list", {"cursor": [text]}) from None


def _next(last_id: int) -> str:
    cursor = base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")
    return f"{request.path}?{urlencode({**request.args.to_dict(), 'cursor': cursor})}"
