"""Support at the desk: find a member by card or e-mail, read their points, block a card, adjust by hand.

Each step is the API's own: the search validates its query with the API's
schema and reads through `members.search` (the e-mail by its keyed hash,
never decrypting anyone else's), the member page reads what
GET /v1/members/<id> answers, a block and an adjustment run the API's
domain calls with its checks (support's adjustment limit first), each
audited as the person's own.
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from marshmallow import ValidationError

from network.api.common import now, read
from network.api.lists import MembersQuery
from network.api.members import adjustment, member_view
from network.api.schemas import AdjustmentCreate, CardBlock
from network.errors import DomainError
from network.members import aliases, cards, history, search
from network.pages import signed_in
from network.pages.desk import HELP, blp, forms
from partners.fields import CardNumber

#: How many members a search shows, and how many lines of a member's history.
FOUND, HISTORY_LINES = 20, 50


@blp.route("/members", methods=["GET"])
@signed_in.needs(HELP)
def members():
    q = (request.args.get("q") or "").strip()
    if not q:
        return render_template("desk/members.html", q="", found=None, error=None)
    by = "email" if "@" in q else "card"
    try:
        query = MembersQuery().load({by: q if by == "email" else q.replace(" ", "").replace("-", "")})
    except ValidationError as refused:
        words = forms.invalid(refused).get(by, "is not valid")
        what = "an e-mail address" if by == "email" else "a card number"
        return render_template("desk/members.html", q=q, found=None, error=f"Not {what}: {words}."), 422
    master = current_app.extensions["coalition.master_key"]

    def work(session):
        found = (search.by_card(session, query["card"], after=None, limit=FOUND) if by == "card"
                 else search.by_email(session, master, query["email"], after=None, limit=FOUND))
        return [search.found(session, master, member, personal=True, masked=False) for member in found]

    return render_template("desk/members.html", q=q, found=read(work), error=None)


def _page(member_id: str, *, errors: dict | None = None, typed: dict | None = None, done: str | None = None,
          status: int = 200):
    def work(session):
        return (member_view(member_id)(session), history.history(session, member_id, count=HISTORY_LINES),
                aliases.of_member(session, member_id))

    member, lines, known = read(work)
    return render_template("desk/member.html", member=member, history=lines, aliases=known, errors=errors or {},
                           typed=typed or {},
                           done=done, limit=current_app.config["COALITION_SUPPORT_ADJUSTMENT_LIMIT"]), status


#: What a write done says on the member page it returns to.
DONE = {"blocked": "The card is blocked: tills refuse it from now on.", "adjusted": "The adjustment is booked."}


@blp.route("/members/<member_id>", methods=["GET"])
@signed_in.needs(HELP)
def member(member_id: str):
    return _page(member_id, done=DONE.get(request.args.get("done", "")))


@blp.route("/members/<member_id>/block", methods=["POST"])
@signed_in.needs(HELP)
def block(member_id: str):
    typed = {"card_number": request.form.get("card_number") or "", "reason": request.form.get("reason") or ""}
    try:
        args = CardBlock().load({"reason": typed["reason"].strip() or None})
        number = CardNumber().deserialize(typed["card_number"])
    except ValidationError as refused:
        return _page(member_id, errors={"block": "; ".join(forms.invalid(refused).values())}, typed=typed, status=422)
    try:
        signed_in.write(lambda session: cards.block_card(session, number, reason=args["reason"], now=now()))
    except DomainError as refused:
        return _page(member_id, errors={"block": refused.message}, typed=typed, status=refused.status)
    return redirect(url_for("desk.member", member_id=member_id, done="blocked"))


@blp.route("/members/<member_id>/adjust", methods=["POST"])
@signed_in.needs(HELP)
def adjust(member_id: str):
    typed = {"points": (request.form.get("points") or "").strip(), "reason": (request.form.get("reason") or "").strip()}
    try:
        points = int(typed["points"])
    except ValueError:
        return _page(member_id, errors={"points": "Give a whole number of points: 500 credits, -500 takes back."},
                     typed=typed, status=422)
    try:
        args = AdjustmentCreate().load({"points": points, "reason": typed["reason"]})
    except ValidationError as refused:
        return _page(member_id, errors=forms.invalid(refused), typed=typed, status=422)
    try:
        signed_in.write(adjustment(member_id, args))
    except DomainError as refused:
        return _page(member_id, errors={"points": forms.said(refused, "points")}, typed=typed, status=refused.status)
    return redirect(url_for("desk.member", member_id=member_id, done="adjusted"))
