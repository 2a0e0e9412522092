"""Settlement: closing periods into signed statements, and handing each party what it may see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from network.api.answers import answers, writes
from network.api.common import hub, idempotent_write, now, only_itself, principal, read, requires
from network.api.schemas import Strict
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY, PARTNER_ROLES
from settlement import acknowledgements, runs

blp = Blueprint("settlement", __name__, description="Settlement statements")


class RunCreate(Strict):
    end = fields.AwareDateTime(required=True, metadata={"description": "the period's end (exclusive); not in the future"})


class SignedStatement(Schema):
    statement = fields.Dict()
    signature = fields.Dict(metadata={"description": '{"alg": "Ed25519", "key_id", "value": base64url}'})
    acknowledgements = fields.List(fields.Dict(), metadata={"description": "partners' countersignatures, kept beside the statement"})


class PublicKeySet(Strict):
    public_key = fields.String(required=True, metadata={"description": "Ed25519, 32 bytes raw, base64url without padding",
                                                        "example": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})


class AcknowledgementCreate(Strict):
    statement_hash = fields.String(required=True, metadata={"description": "SHA-256 hex of the statement's canonical bytes",
                                                            "example": "9f2c" * 16})
    signature = fields.String(required=True, metadata={"description": "base64url Ed25519 signature of statement_hash's ASCII bytes",
                                                       "example": "q2X0" * 21 + "q2"})


class AcknowledgementOut(Schema):
    sequence = fields.Integer()
    partner = fields.String()
    statement_hash = fields.String()
    acknowledged_at = fields.DateTime()


class JwkSet(Schema):
    keys = fields.List(fields.Dict(), metadata={"description": 'RFC 8037 keys: {"kty": "OKP", "crv": "Ed25519", "x", "kid"}'})


class PartnerSection(Schema):
    sequence = fields.Integer()
    section = fields.Dict()
    proof = fields.List(fields.Dict(), metadata={"description": "Merkle inclusion proof, leaf to root"})
    merkle_root = fields.String()
    statement_hash = fields.String(metadata={"description": "what a partner countersigns to acknowledge the statement"})
    signed_root = fields.Dict(metadata={"description": "the statement's head (sequence, network, period, currency, merkle_root, previous_hash)"})
    signature = fields.Dict(metadata={"description": "the hub's signature over the canonical bytes of signed_root"})


@blp.route("/settlement/runs", methods=["POST"])
@requires(ADMIN, FINANCE)
@writes
@blp.arguments(RunCreate)
@blp.response(201, SignedStatement)
@answers("period_not_over", "period_closed")
def run(args):
    """Close the period from the last statement's end to `end`: the figures, signed.

    Admins and finance. `end` must lie in the past by the grace time (`period_not_over`), after the last statement's end
    (`period_closed`). The statement names the hash of the one before.
    """
    return idempotent_write(closing(args["end"]))


def terms() -> dict:
    """The network's terms of a period's closing, from its configuration, at this moment."""
    config = current_app.config
    return {"now": now(), "grace": timedelta(seconds=config["COALITION_SETTLEMENT_GRACE_SECONDS"]),
            "currency": config["COALITION_SETTLEMENT_CURRENCY"], "network": config["COALITION_NETWORK_NAME"]}


def closing(end: datetime) -> Callable[[Session], dict]:
    """The work of closing the period up to `end`, signed: what this API's run and the desk's closing both commit."""
    signing = hub().signing
    signing.ensure_key()
    return lambda session: runs.close_period(session, end=end, sign=signing.sign, **terms())


def preview(session: Session, end: datetime) -> dict:
    """The statement closing up to `end` would store, with the same refusals, neither signed nor stored."""
    return runs.draft(session, end=end, **terms()).statement


def signed_statement(session: Session, sequence: int) -> dict:
    """A statement as GET /v1/settlement/statements/<sequence> answers it, before its schema renders it."""
    return {**runs.signed_statement(session, sequence), "acknowledgements": acknowledgements.listed(session, sequence)}


@blp.route("/settlement/statements/<int:sequence>", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.response(200, SignedStatement)
@answers("unknown_statement")
def statement(sequence):
    """The whole statement and the hub's signature over its canonical (RFC 8785) bytes.

    Admins and finance. Partners read their own section, with its proof, at
    `/v1/settlement/statements/{sequence}/partners/{slug}`.
    """
    return read(lambda session: signed_statement(session, sequence))


@blp.route("/settlement/statements/<int:sequence>/partners/<slug>", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.response(200, PartnerSection)
@answers("unknown_statement", "unknown_partner", "wrong_partner")
def section(sequence, slug):
    """One partner's section with its inclusion proof against the signed Merkle root.

    Admins and finance read any section; a partner's keys and people only its own. The proof lets the partner verify its section offline
    against the signed root, without seeing other partners' figures.
    """
    only_itself(slug, "A partner sees only its own section")
    return read(lambda session: runs.partner_section(session, sequence, slug))


@blp.route("/partners/<slug>/public-key", methods=["PUT"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(PublicKeySet)
@blp.response(200, PublicKeySet)
@answers("unknown_partner", "wrong_partner", "invalid_public_key")
def put_public_key(args, slug):
    """Register the partner's Ed25519 public key, with which it countersigns statements.

    The partner's admin or keys, or an admin. A new key replaces the old one.
    """
    only_itself(slug, "A partner registers only its own key")

    def work(session):
        acknowledgements.set_public_key(session, get_partner(session, slug), args["public_key"])
        return {"public_key": args["public_key"]}

    return idempotent_write(work, status=200)


@blp.route("/settlement/statements/<int:sequence>/acknowledgements", methods=["POST"])
@requires(PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(AcknowledgementCreate)
@blp.response(201, AcknowledgementOut)
@answers("already_acknowledged", "hash_mismatch", "no_public_key", "bad_countersignature", "unknown_statement")
def acknowledge(args, sequence):
    """Countersign the statement's hash with the partner's registered key.

    A partner's admin or keys. The signature is checked against the partner's registered key; one acknowledgement per
    partner and statement.
    """
    partner = principal().partner
    return idempotent_write(lambda session: acknowledgements.acknowledge(session, partner, sequence, now=now(), **args))


@blp.route("/settlement/keys", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, JwkSet)
@answers()
def keys():
    """The hub's statement-signing public keys as a JWK set (RFC 8037): anyone may verify offline.

    No token needed: old keys stay listed, so statements signed before a key rotation still verify.
    """
    return hub().signing.jwks()
