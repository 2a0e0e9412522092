"""The partner's statements in the portal: its signed section to download and verify offline, and reconciliation.

The download is the very bytes the API answers for the section, so the
`coalition settlement verify` command a finance team runs on it holds the
hub to its signature without trusting the portal. Reconciliation reads the
partner's own records as the API's does (`reconcile_file`) and books nothing.
A partner's admin disputes lines of a statement here as through the API
(`settlement.disputes.file`), and reads how finance ended each.
"""

from __future__ import annotations

import re

from flask import current_app, g, jsonify, redirect, render_template, request, url_for
from marshmallow import ValidationError

from network.api import finance
from network.api.common import hub, now
from network.api.disputes import DisputeCreate
from network.api.partners import public_url
from network.api.settlement import PartnerSection
from network.errors import DomainError
from network.pages import signed_in
from network.pages.portal import ADMINS, PEOPLE, blp, over_the_limit, partner, takes_a_file, too_large
from settlement import disputes, reconcile, runs

#: Statements the page lists, newest first.
SHOWN = 24


@blp.route("/<slug>/settlement", methods=["GET"])
@signed_in.needs(PEOPLE)
def settlement(slug: str):
    return _page(partner(slug))


@blp.route("/<slug>/settlement/<int:sequence>/section.json", methods=["GET"])
@signed_in.needs(PEOPLE)
def section(slug: str, sequence: int):
    """The partner's section with its proof, as GET /v1/settlement/statements/<n>/partners/<slug> answers it."""
    shown = partner(slug)
    found = hub().db.read(lambda session: runs.partner_section(session, sequence, shown.slug))
    answer = jsonify(PartnerSection().dump(found))
    answer.headers["Content-Disposition"] = f'attachment; filename="{shown.slug}-{sequence}.json"'
    return answer


@blp.route("/<slug>/settlement/<int:sequence>/section.pdf", methods=["GET"])
@signed_in.needs(PEOPLE)
def section_pdf(slug: str, sequence: int):
    """The partner's section to file, as GET /v1/settlement/statements/<n>/partners/<slug>/section.pdf answers it."""
    return finance.section_file(sequence, partner(slug).slug)


@blp.route("/<slug>/settlement/<int:sequence>/disputes", methods=["POST"])
@signed_in.needs(ADMINS)
def dispute(slug: str, sequence: int):
    """Dispute the partner's orders of the statement's period: order ids (one per line, or by spaces or commas) and why."""
    shown = partner(slug)
    asked = {"order_ids": [o for o in re.split(r"[\s,]+", request.form.get("order_ids") or "") if o],
             "reason": (request.form.get("reason") or "").strip()}
    try:
        args = DisputeCreate().load(asked)
    except ValidationError as exc:
        words = "; ".join(f"{field}: {' '.join(map(str, messages if isinstance(messages, list) else [messages]))}"
                          for field, messages in exc.messages.items())
        return _page(shown, sequence=sequence, error=f"The dispute is not complete ({words})."), 422
    currency = current_app.config["COALITION_SETTLEMENT_CURRENCY"]
    try:
        signed_in.write(lambda session: disputes.file(session, sequence, shown.id, args["order_ids"], args["reason"],
                                                      now(), currency))
    except DomainError as refused:  # an order the statement did not book for this partner
        named = refused.details.get("order_ids")
        return _page(shown, sequence=sequence, error=refused.message + (f": {', '.join(named)}" if named else "")), \
            refused.status
    return redirect(url_for("portal.settlement", slug=shown.slug, disputed=sequence) + f"#statement-{sequence}", 303)


@blp.route("/<slug>/settlement/<int:sequence>/reconciliation", methods=["POST"])
@takes_a_file
@signed_in.needs(ADMINS)
def reconciliation(slug: str, sequence: int):
    """The partner's records (order_id,type,points) against its orders of the statement's period."""
    shown = partner(slug)
    sent = request.files.get("records")
    if sent is None or not sent.filename:
        return _page(shown, sequence=sequence, error="Choose the file of your records."), 422
    if over_the_limit(sent):
        return _page(shown, sequence=sequence, error=too_large()), 413
    try:
        result = reconcile.reconcile_file(hub().db, sequence, shown.slug, sent.stream)
    except DomainError as refused:  # a header without the columns, a statement that does not exist
        return _page(shown, sequence=sequence, error=refused.message), refused.status
    return render_template("portal/reconciliation.html", partner=shown, result=result, name=sent.filename)


def _page(shown, *, sequence: int | None = None, error: str | None = None) -> str:
    currency = current_app.config["COALITION_SETTLEMENT_CURRENCY"]

    def work(session):
        listed = runs.listed(session, after=None, limit=SHOWN, partner_since=shown.created_at)
        return listed, {s.sequence: disputes.listed(session, s.sequence, currency, shown.id) for s in listed}

    statements, filed = hub().db.lagging_read(work)
    return render_template("portal/settlement.html", partner=shown, statements=statements, failed=sequence, error=error,
                           reconciles=g.principal.role in ADMINS, disputes=filed,
                           disputed=request.args.get("disputed", type=int),
                           keys_url=public_url(url_for("settlement.keys")))  # the hub's own address, never the Host header
