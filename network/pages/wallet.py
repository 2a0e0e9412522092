"""The member's wallet, `/wallet`: one balance across stores, on a phone, with no password.

A member gets in through a single-use link (from a partner's app, or by
e-mail) and stays in on a session cookie. Every write here calls the same
domain function as the API (a card blocked and replaced, the erasure) and is
audited as the member's own; a refusal is said on the page in words.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from network.api.common import hub, ladder, tier_window
from network.api.idempotency import to_json
from network.api.limits import form_field, limited
from network.errors import DomainError
from network.lifecycle import expiry
from network.members import cards, erasure, export, search, wallet_links
from network.members.privacy import MasterKey
from network.ops import mail
from network.pages import barcodes, security, sessions, wallet_figures
from network.parties import audit

blp = security.guard(Blueprint("wallet", __name__, url_prefix="/wallet"))
KIND = "member"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _member() -> str | None:
    return sessions.current(KIND)


def _signed_out():
    return redirect(url_for("wallet.sign_in"))


def _actor(member_id: str) -> audit.Actor:
    return audit.Actor(f"member {member_id}", "member")


def _where() -> audit.Where:
    return audit.Where(request.remote_addr, request.headers.get("User-Agent"))


def message(title: str, text: str, status: int = 200, *, again: bool = True) -> tuple[str, int]:
    return render_template("message.html", title=title, text=text, again=again), status


def mailed_path(token: str) -> str:
    """A mailed link opens a page with a button, not the wallet: a mail scanner that fetches every link spends nothing."""
    return url_for("wallet.confirm_link", token=token)


@blp.route("/sign-in", methods=["GET"])
def sign_in():
    return render_template("wallet/sign_in.html", sent=None, error=None)


@blp.route("/sign-in", methods=["POST"])
@limited("COALITION_SIGN_IN_LIMIT", form_field("email"))  # per address asked for
@limited("COALITION_SIGN_IN_LIMIT_PER_ADDRESS")
def send_link():
    """A link by e-mail: the page says the same whether the address is known or not, so it tells no one who is a member."""
    email = (request.form.get("email") or "").strip()
    if not _EMAIL.fullmatch(email) or len(email) > 320:
        return render_template("wallet/sign_in.html", sent=None, error="Give the e-mail address your card is under."), 422
    config, master = current_app.config, current_app.extensions["coalition.master_key"]
    public = config.get("COALITION_PUBLIC_URL")
    at = sessions.now()

    def work(session):
        found = search.by_email(session, master, email, after=None, limit=1)
        if not found or public is None:  # a link is mailed only under the hub's own address, never the Host header's
            return None
        token, _ = wallet_links.issue(session, found[0].id, now=at)
        return token

    token = hub().db.transact(work)
    if token is not None:
        mail.send_later(config.get("COALITION_SMTP_URL"), config["COALITION_MAIL_FROM"], email, "Your loyalty wallet",
                  f"Open your wallet (the link works once, for 15 minutes):\n\n{public}{mailed_path(token)}\n\n"
                  "If you did not ask for it, ignore this mail.")
    return render_template("wallet/sign_in.html", sent=email, error=None)


@blp.route("/mail/<token>", methods=["GET"])
def confirm_link(token: str):
    """The mailed link's page: one button, whose POST spends the link (a GET here spends nothing)."""
    return render_template("wallet/confirm.html", token=token[:100])


@blp.route("/open/<token>", methods=["GET", "POST"])
def open_link(token: str):
    """Spend a link and start the member's session: the link is the key, once.

    A GET for a partner's app, which sends its signed-in customer straight here; a POST from the mailed link's page.
    """
    if len(token) > 100:
        return message("This link does not open a wallet", "It is not one the network gave out. Ask for a new one.", 404)
    try:
        member_id = hub().db.transact(lambda session: wallet_links.spend(session, token, now=sessions.now()))
    except wallet_links.LinkRefused as refused:
        return message("This link does not open a wallet", refused.why, 410)
    sessions.begin(KIND, member_id)
    return redirect(url_for("wallet.home"))


@blp.route("", methods=["GET"])
def home():
    member_id = _member()
    if member_id is None:
        return _signed_out()
    at, config = sessions.now(), current_app.config

    def work(session):
        try:
            cards.get_member(session, member_id)
        except DomainError:
            return None
        return wallet_figures.wallet(session, member_id, now=at, policy=expiry.Policy.from_config(config), window=tier_window(),
                             ladder=ladder())

    shown = hub().db.read(work)
    if shown is None:  # deleted or merged since the session began
        sessions.end()
        return message("This wallet is closed", "The account was deleted or merged into another.", 410)
    card = shown["card"]
    return render_template("wallet/home.html", wallet=shown, member_id=member_id,
                           code=barcodes.qr_svg(card.number, label="Your card") if card else None)


@blp.route("/card/replace", methods=["POST"])
def replace_card():
    """A lost card: block it and get a new number on the same balance, in one transaction."""
    member_id = _member()
    if member_id is None:
        return _signed_out()
    at = sessions.now()

    def work(session):
        lost = next((card.number for card in cards.cards_of(session, member_id) if card.status == "active"), None)
        made = cards.issue_replacement(session, member_id, replaces=lost, now=at)
        audit.record(session, at, _actor(member_id), "POST /wallet/card/replace", f"/v1/members/{member_id}/cards",
                     where=_where(), after={"replaces": cards.mask(lost) if lost else None,
                                            "card": cards.mask(made["card_number"])})
        return made

    try:
        made = hub().db.transact(work)
    except DomainError as refused:
        return message("The card was not replaced", refused.message, refused.status)
    return render_template("wallet/replaced.html", made=made,
                           code=barcodes.qr_svg(made["card_number"], label="Your new card"))


@blp.route("/export", methods=["GET"])
def download():
    """Everything the network holds about the member, decrypted, as the operator's export answers it."""
    member_id = _member()
    if member_id is None:
        return _signed_out()
    master: MasterKey = current_app.extensions["coalition.master_key"]
    document = hub().db.read(lambda session: export.export(session, master, member_id, now=sessions.now()))
    return Response(to_json(document) + "\n", mimetype="application/json",
                    headers={"Content-Disposition": 'attachment; filename="my-loyalty-data.json"'})


@blp.route("/delete", methods=["GET", "POST"])
def delete():
    """Delete the account after a confirmation: points forfeited, personal data shredded, the ledger kept."""
    member_id = _member()
    if member_id is None:
        return _signed_out()
    if request.method == "GET":
        return render_template("wallet/delete.html", error=None)
    if request.form.get("confirm") != "yes":
        return render_template("wallet/delete.html", error="Tick the box to confirm: nothing was deleted."), 422
    at = sessions.now()

    def work(session):
        gone = erasure.delete_member(session, member_id, now=at)
        audit.record(session, at, _actor(member_id), "POST /wallet/delete", f"/v1/members/{member_id}", where=_where())
        return gone

    try:
        hub().db.transact(work)
    except DomainError as refused:
        return message("The account was not deleted", refused.message, refused.status)
    sessions.end()
    return message("Your account is deleted", "Your points are gone and your personal data is erased. "
                   "Thank you for having been a member.", again=False)


@blp.route("/sign-out", methods=["POST"])
def sign_out():
    sessions.end()
    return redirect(url_for("wallet.sign_in"))
