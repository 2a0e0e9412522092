"""Card aliases: a partner tells the hub which hub card its own loyalty number stands for, once, then sends what it always sent."""

from __future__ import annotations

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.routing import BaseConverter

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import hub, idempotent_write, media_type, now, principal, read, requires
from network.api.gate import reads_raw_body
from network.api.schemas import Strict
from network.members import aliases
from network.parties import audit
from network.parties.roles import PARTNER_ADMIN, PARTNER_KEY
from partners.fields import CardNumber

blp = Blueprint("card_aliases", __name__, description="A partner's own loyalty numbers for hub cards")


class AliasConverter(BaseConverter):
    """One path segment, never `batch`: that path is the import's, and its other methods are a 405, not an alias."""

    regex = r"(?!batch$)[^/]+"


class AliasSet(Strict):
    card_number = CardNumber(required=True, metadata={"example": "7000000000000008"})


class AliasOut(Schema):
    alias = fields.String(metadata={"example": "0000000000000040000066677"})
    card_number = fields.String()
    created_at = fields.DateTime()
    created = fields.Boolean(metadata={"description": "true when the alias is new, false when it now names another card "
                                                      "or the same again"})


class AliasImport(Schema):
    accepted = fields.Integer(metadata={"description": "rows that made an alias or pointed one at its card"})
    rejected_total = fields.Integer()
    rejected = fields.List(fields.Dict(), metadata={"description": 'the first 1,000 bad rows: {"row", "errors"}'})


@blp.route("/card-aliases/batch", methods=["POST"])
@reads_raw_body
@requires(PARTNER_KEY, PARTNER_ADMIN)
@blp.doc(requestBody={
    "description": "The partner's numbers and the hub cards they stand for, streamed: a header `alias,card_number`. "
                   "Sent again, a file changes nothing.",
    "required": True,
    "content": {"text/csv": {"schema": {"type": "string"}, "example": "alias,card_number\n0000000000000040000066677,7000000000000008\n"}},
})
@blp.response(200, AliasImport)
@answers("bad_header", "unsupported_media_type", "payload_too_large", "unreadable_body")
def import_aliases():
    """Make many aliases at once (a partner bringing its programme's numbers): good rows are made, bad ones listed.

    One transaction and one audit event for the file. Not run under an Idempotency-Key: a file sent again sets what
    it set before.
    """
    partner = principal().partner
    media_type(("text/csv",), "An alias file")
    request.max_content_length = current_app.config["COALITION_MAX_BATCH_BYTES"]
    where = audit.Where(request.remote_addr, request.headers.get("User-Agent"))

    def work(session):
        done = aliases.import_rows(session, partner.id, aliases.read_file(request.stream), now=now())
        audit.record(session, now(), audit_trail.actor(), "POST /v1/card-aliases/batch", request.path, where=where,
                     after={"accepted": done["accepted"], "rejected": done["rejected_total"]})
        return done

    return hub().db.transact(work)


@blp.route("/card-aliases/<alias:alias>", methods=["PUT"])
@requires(PARTNER_KEY, PARTNER_ADMIN)
@writes
@blp.arguments(AliasSet)
@blp.response(200, AliasOut)
@answers("unknown_card", "invalid_alias")
def put_alias(args, alias):
    """Make `alias` (the partner's own loyalty number, 1 to 128 characters) stand for a hub card, or point it at another.

    From then on every transaction of this partner that names the alias where a card goes (any adapter) earns on
    that card; another partner's alias never resolves. A blocked card is refused under its alias as under its number.
    """
    partner = principal().partner

    def work(session):
        made = aliases.put(session, partner.id, alias, args["card_number"], now=now())
        replaced = made.pop("replaced")
        audit_trail.change(None if replaced is None else {"alias": alias, "card_number": replaced},
                           {"alias": alias, "card_number": made["card_number"]})
        return made

    return idempotent_write(work, status=200)


@blp.route("/card-aliases/<alias:alias>", methods=["GET"])
@requires(PARTNER_KEY, PARTNER_ADMIN)
@blp.response(200, AliasOut)
@answers("unknown_alias")
def get_alias(alias):
    """The hub card this partner's alias stands for."""
    partner = principal().partner
    return read(lambda session: aliases.get(session, partner.id, alias))


@blp.route("/card-aliases/<alias:alias>", methods=["DELETE"])
@requires(PARTNER_KEY, PARTNER_ADMIN)
@writes
@blp.response(200, AliasOut)
@answers("unknown_alias")
def delete_alias(alias):
    """Remove an alias: the card keeps its points, and the partner's number no longer resolves."""
    partner = principal().partner

    def work(session):
        gone = aliases.remove(session, partner.id, alias)
        audit_trail.change({"alias": alias, "card_number": gone["card_number"]}, None)
        return gone

    return idempotent_write(work, status=200)
