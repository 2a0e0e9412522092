"""Reading the audit trail: admins read all of it, a partner's admin its own partner's. Nothing writes here."""

from __future__ import annotations

from flask_smorest import Blueprint

from network.api.access_schemas import AUDIT, AuditPage, AuditQuery
from network.api.answers import answers
from network.api.common import lagging_read, principal, requires
from network.api.paging import QUERY, page
from network.parties import audit
from network.parties.roles import ADMIN, PARTNER_ADMIN

blp = Blueprint("audit", __name__, description="The audit trail")


@blp.route("/audit-events", methods=["GET"])
@requires(ADMIN, PARTNER_ADMIN)
@blp.arguments(AuditQuery, **QUERY)
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
    return lagging_read(lambda session: page(AUDIT, query, lambda after, count: audit.page(session, found, before_id=after,
                                                                                          limit=count),
                                             key=lambda event: event["id"]))
