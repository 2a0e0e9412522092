"""Cards (block, replace) and the operator's member data requests: merge, export, delete."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, principal, read, requires
from network.api.document import card_in_path
from network.api.export_schemas import MemberExport
from network.api.schemas import (
    CardBlock,
    CardIssue,
    CardIssued,
    CardOut,
    MemberDeleted,
    MergeCreate,
    MergeResult,
)
from network.members import cards, erasure, export, merge
from network.members.privacy import MasterKey
from network.parties.roles import ADMIN, PARTNER_KEY, SUPPORT

blp = Blueprint("member_data", __name__, description="Cards, merges, and members' personal data")


def master_key() -> MasterKey:
    return current_app.extensions["coalition.master_key"]


@blp.route("/cards/<card_number>/block", methods=["POST"])
@card_in_path
@requires(ADMIN, SUPPORT, PARTNER_KEY)
@writes
@blp.arguments(CardBlock, required=False, description="optional: a reason, kept with the card")
@blp.response(200, CardOut)
@answers("unknown_card", "invalid_card")
def block(args, card_number):
    """Block a lost or stolen card: tills refuse it (card_blocked); the member's balance is untouched.

    Blocking a blocked card changes nothing (200, as it stands). Any partner may block a card whose number
    it holds (the lost-card call at any till); its answer masks card numbers in the reason.
    """
    masked = not principal().sees_personal_data

    def work(session):
        card = cards.block_card(session, card_number, reason=args["reason"], now=now())
        return cards.card_view([card], masked=masked)[0] | {"number": card.number}

    return idempotent_write(work, status=200)


@blp.route("/members/<member_id>/cards", methods=["POST"])
@requires(ADMIN, SUPPORT, PARTNER_KEY)
@writes
@blp.arguments(CardIssue, required=False, description="optional: the card this one replaces")
@blp.response(201, CardIssued)
@answers("unknown_member", "member_merged", "member_deleted", "card_mismatch", "unknown_card", "invalid_card")
def issue(args, member_id):
    """Issue the member another card on the same balance; `replaces` blocks the old one in the same transaction.

    Only admins, support, or the partner that enrolled the member: to any other partner the member is unknown (404).
    """
    partner = principal().partner
    return idempotent_write(lambda session: cards.issue_replacement(
        session, member_id, replaces=args["replaces"], now=now(), partner_id=partner.id if partner else None))


@blp.route("/members/<member_id>/merge", methods=["POST"])
@requires(ADMIN, SUPPORT)
@writes
@blp.arguments(MergeCreate)
@blp.response(200, MergeResult)
@answers("unknown_member", "member_merged", "member_deleted", "member_has_holds", "same_member")
def merge_member(args, member_id):
    """Merge another member into this one: its cards, points and lots (issuer and expiry kept) move here.

    Admins and support. The merged member is closed (410 `member_merged`, naming `merged_into`); its debts
    move too. Refused while either member has held points.
    """
    return idempotent_write(lambda session: merge.merge(session, member_id, args["member_id"], now=now()), status=200)


@blp.route("/members/<member_id>/export", methods=["GET"])
@requires(ADMIN, SUPPORT)
@blp.response(200, MemberExport)
@answers("unknown_member", "member_merged", "member_deleted", "master_key_error")
def export_member(member_id):
    """Everything held about the member: profile, cards, balances, lots, entries, orders, referrals.

    Admins and support: the answer to a member's access request, personal data decrypted.
    """
    at = now()
    return read(lambda session: export.export(session, master_key(), member_id, now=at))


@blp.route("/members/<member_id>", methods=["DELETE"])
@requires(ADMIN, SUPPORT)
@writes
@blp.response(200, MemberDeleted)
@answers("unknown_member", "member_merged", "member_deleted", "member_has_holds")
def delete_member(member_id):
    """Forget the member: points forfeited as breakage, cards blocked, personal data crypto-shredded; the ledger stays.

    Admins and support, at the member's request. Holds must be captured or voided first (`member_has_holds`); a second
    delete answers 410 `member_deleted`.
    """
    return idempotent_write(lambda session: erasure.delete_member(session, member_id, now=now()), status=200)
