"""The lists and searches: partners, members by card or e-mail, settlement statements; paged alike (api/paging.py).

Each view's `@requires` is who may list; a statement list's rows are then
narrowed to the calling partner's own in the view, beside it. One module
and one section of the document: whoever reads one list has read them all.
"""

from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from network.api.answers import answers
from network.api.common import lagging_read, principal, read, requires
from network.api.member_data import master_key
from network.api.paging import QUERY, Listing, page, page_schema, query_schema
from network.api.schemas import CardOut
from network.members import search
from network.parties import registry
from network.parties.roles import ADMIN, FINANCE, PARTNER_ROLES, STAFF_ROLES, SUPPORT
from partners.fields import CardNumber
from settlement import runs

blp = Blueprint("lists", __name__, description="Lists and searches, paged by cursor")

PARTNERS = Listing("partners", int, bound=2**63 - 1, example_key=12)
MEMBERS = Listing("members", str, bound=32, example_key="8f14e45fceea167a5a36dedd4bea2543")
STATEMENTS = Listing("statements", int, bound=2**31 - 1, newest_first=True, example_key=12)


class PartnerListed(Schema):
    slug = fields.String(metadata={"example": "brew-bar"})
    name = fields.String(metadata={"example": "Brew Bar"})
    kind = fields.String(metadata={"description": "retailer or charity", "example": "retailer"})
    adapter = fields.String(metadata={"example": "canonical"})
    timezone = fields.String(metadata={"example": "Europe/Paris"})
    currency = fields.String(metadata={"example": "EUR"})
    created_at = fields.DateTime()


class MembersQuery(query_schema(MEMBERS, "by member id")):
    card = CardNumber(load_default=None, metadata={"description": "find the holder of this card (give card or email)",
                                                   "example": "7000000000000005"})
    email = fields.Email(load_default=None, validate=validate.Length(max=320), metadata={
        "description": "find the members with this e-mail, in any case (give card or email)", "example": "ann@example.com"})

    @validates_schema
    def _one_of(self, data, **kwargs):
        given = [name for name in ("card", "email") if data.get(name) is not None]
        if len(given) != 1:
            message = "give exactly one of card or email"
            raise ValidationError({name: [message] for name in (given or ["card", "email"])})


class MemberFound(Schema):
    member_id = fields.String()
    created_at = fields.DateTime()
    merged_into = fields.String(allow_none=True, metadata={
        "description": "the member this one was merged into (its cards and points are there); null: not merged"})
    email = fields.String(allow_none=True, metadata={"description": "null when not given"})
    name = fields.String(allow_none=True, metadata={"description": "null when not given"})
    cards = fields.List(fields.Nested(CardOut))


class StatementListed(Schema):
    sequence = fields.Integer(metadata={"example": 12})
    period_start = fields.DateTime(allow_none=True, metadata={"description": "null for the first statement"})
    period_end = fields.DateTime()
    created_at = fields.DateTime()
    statement_hash = fields.String(metadata={"description": "SHA-256 hex of the statement's canonical bytes",
                                             "example": "9f2c" * 16})
    link = fields.String(metadata={"description": "the whole statement (operator) or the caller's own section (partner)",
                                   "example": "/v1/settlement/statements/12/partners/brew-bar"})


@blp.route("/partners", methods=["GET"])
@requires(STAFF_ROLES)
@blp.arguments(query_schema(PARTNERS, "by partner id"), **QUERY)
@blp.response(200, page_schema(PartnerListed, "PartnerPage", PARTNERS, "/v1/partners"))
@answers()
def list_partners(args):
    """Every partner, in the order they joined: slug, name, kind, adapter, time zone, currency.

    The operator's staff. No secret is listed (no key, no adapter setting); `GET /v1/partners/{slug}` shows a partner's
    settings.
    """
    return read(lambda session: page(PARTNERS, args, lambda after, count: registry.listed(session, after=after, limit=count),
                                     key=lambda row: row.id, render=lambda row: row._asdict()))


@blp.route("/members", methods=["GET"])
@requires(ADMIN, SUPPORT)
@blp.arguments(MembersQuery, **QUERY)
@blp.response(200, page_schema(MemberFound, "MemberPage", MEMBERS, "/v1/members?email=ann%40example.com"))
@answers("master_key_error")
def find_members(args):
    """Find members by `card` (its holder, after merges; a blocked card too) or by `email` (every member with it).

    Admins and support: cards in full, e-mail and name decrypted for the members found alone. The e-mail search reads
    a keyed hash of the address, never decrypting anyone else's; a merged member is found with `merged_into`; a
    deleted member is found by nothing. Nothing found is an empty page.
    """
    master, personal, masked = master_key(), True, False  # what the operator sees, as GET /v1/members/{id} shows it

    def fetch(session, after, count):
        if args["card"] is not None:
            return search.by_card(session, args["card"], after=after, limit=count)
        return search.by_email(session, master, args["email"], after=after, limit=count)

    return read(lambda session: page(
        MEMBERS, args, lambda after, count: fetch(session, after, count), key=lambda member: member.id,
        render=lambda member: search.found(session, master, member, personal=personal, masked=masked)))


@blp.route("/settlement/statements", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.arguments(query_schema(STATEMENTS, "by sequence"), **QUERY)
@blp.response(200, page_schema(StatementListed, "StatementPage", STATEMENTS, "/v1/settlement/statements"))
@answers()
def list_statements(args):
    """Closed periods' statements, newest first (by sequence), each with its hash and a link to read it.

    Admins and finance list every statement, each linking to the whole of it; a partner only those that have its
    section (every period that ended after it joined), each linking to its own section and proof.
    """
    partner = principal().partner

    def render(row) -> dict:
        link = (url_for("settlement.statement", sequence=row.sequence) if partner is None
                else url_for("settlement.section", sequence=row.sequence, slug=partner.slug))
        return {"sequence": row.sequence, "period_start": row.period_start, "period_end": row.period_end,
                "created_at": row.created_at, "statement_hash": row.hash, "link": link}

    since = None if partner is None else partner.created_at
    return lagging_read(lambda session: page(
        STATEMENTS, args, lambda after, count: runs.listed(session, after=after, limit=count, partner_since=since),
        key=lambda row: row.sequence, render=render))
