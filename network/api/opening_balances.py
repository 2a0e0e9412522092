"""Opening balances: a partner joining with its own programme brings what its members already held, by file."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint

from network.api import audit_trail
from network.api.answers import answers
from network.api.common import hub, media_type, principal, requires, terms
from network.api.gate import reads_raw_body
from network.api.schemas import BatchResult
from network.earning import opening
from network.parties.roles import PARTNER_ADMIN, PARTNER_KEY

blp = Blueprint("opening_balances", __name__, description="Members' balances a partner brings from its own programme")


@blp.route("/opening-balances/batch", methods=["POST"])
@reads_raw_body
@requires(PARTNER_KEY, PARTNER_ADMIN)
@blp.doc(requestBody={
    "description": "The programme's members and their points, streamed: a header with `card` (a hub card number or "
                   "one of this partner's aliases) and `points`, optionally `earned_at` (an ISO 8601 date or time, the "
                   "partner's local time without an offset; default now) and `key` (the row's own id; default the "
                   "card as written). Each key is booked once: a file sent again books nothing twice.",
    "required": True,
    "content": {"text/csv": {"schema": {"type": "string"}, "example": "card,points,earned_at\n"
                             "7000000000000008,1250,2025-11-02\n0000000000000040000066677,300,\n"}},
})
@blp.response(200, BatchResult)
@answers("bad_header", "unsupported_media_type", "payload_too_large")
def import_opening_balances():
    """Book the balances a partner's members held in its own programme, funded by the partner as their issuer.

    Good rows are booked, a chunk at a time, each on the member's available points in a lot issued by this partner
    that expires the network's points lifetime after `earned_at`; bad rows are listed with their row number and
    reason (`unknown_card`, `unknown_alias`, `invalid_row`). Not run under an Idempotency-Key: a file sent again
    counts its rows as duplicates.
    """
    partner = principal().partner
    media_type(("text/csv",), "An opening balances file")
    request.max_content_length = current_app.config["COALITION_MAX_BATCH_BYTES"]
    return opening.import_rows(hub().db, partner, opening.read_file(request.stream, partner.timezone),
                               clock=current_app.config["CLOCK"], terms=terms(), audit=audit_trail.for_batch()).view()
