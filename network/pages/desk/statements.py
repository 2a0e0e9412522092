"""The statements a closing signed: their list, one statement's page, and its files.

The page checks what it shows rather than trusting the database: the
statement's signature against the hub's published keys and its hash chain
to the one before, by the same `settlement.verify` a partner runs offline,
so a row changed behind the hub's back reads "not verified". The files
are the API's own answers, made by the API's functions.
"""

from __future__ import annotations

import json

from flask import jsonify, render_template
from sqlalchemy import func, select

from network.api import finance, reconciliation
from network.api.common import hub, lagging_read, read
from network.api.settlement import JwkSet, SignedStatement, signed_statement
from network.models import Acknowledgement, Statement
from network.pages import signed_in
from network.pages.desk import MONEY, blp, statement_view
from settlement import section_pdf, verify

#: How many statements the list shows, newest first.
LISTED = 100


@blp.route("/statements", methods=["GET"])
@signed_in.needs(MONEY)
def statements():
    return render_template("desk/statements.html", rows=lagging_read(_listed))


def _listed(session) -> list[dict]:
    acknowledged = dict(session.execute(
        select(Acknowledgement.sequence, func.count()).group_by(Acknowledgement.sequence)).all())
    rows = session.execute(select(Statement.sequence, Statement.period_start, Statement.period_end, Statement.canonical,
                                  Statement.signature)
                           .order_by(Statement.sequence.desc()).limit(LISTED)).all()
    listed = []
    for row in rows:
        statement = json.loads(row.canonical)
        listed.append({"sequence": row.sequence, "start": row.period_start, "end": row.period_end,
                       "currency": statement["currency"], "transfers_total": statement_view.transfers_total(statement),
                       "key_id": row.signature["statement"]["key_id"],
                       "acknowledgements": acknowledged.get(row.sequence, 0)})
    return listed


@blp.route("/statements/<int:sequence>", methods=["GET"])
@signed_in.needs(MONEY)
def statement(sequence: int):
    def work(session):
        document = signed_statement(session, sequence)
        previous = signed_statement(session, sequence - 1) if sequence > 1 else None
        return document, previous, section_pdf.names(session)

    document, previous, names = read(work)
    verified, checks = verify.verdict(document, hub().signing.jwks(), previous)
    return render_template("desk/statement.html", shown=statement_view.shown(document["statement"]),
                           signature=document["signature"], acknowledgements=document["acknowledgements"],
                           verified=verified, checks=checks,
                           parties=section_pdf.sections(document["statement"], document["signature"], names))


@blp.route("/statements/<int:sequence>/transfers.csv", methods=["GET"])
@signed_in.needs(MONEY)
def transfers_csv(sequence: int):
    return reconciliation.transfers_file(sequence)


@blp.route("/statements/<int:sequence>/obligations.csv", methods=["GET"])
@signed_in.needs(MONEY)
def obligations_csv(sequence: int):
    return reconciliation.obligations_file(sequence)


@blp.route("/statements/<int:sequence>/partners/<slug>/section.pdf", methods=["GET"])
@signed_in.needs(MONEY)
def section_file(sequence: int, slug: str):
    """A party's section as GET /v1/settlement/statements/<sequence>/partners/<slug>/section.pdf answers it: the
    section this page shows, laid out for filing."""
    return finance.section_file(sequence, slug)


@blp.route("/statements/<int:sequence>/statement.json", methods=["GET"])
@signed_in.needs(MONEY)
def statement_json(sequence: int):
    """The signed statement as GET /v1/settlement/statements/<sequence> answers it: what `coalition settlement verify`
    reads."""
    answer = jsonify(SignedStatement().dump(read(lambda session: signed_statement(session, sequence))))
    answer.headers["Content-Disposition"] = f'attachment; filename="statement-{sequence}.json"'
    return answer


@blp.route("/keys.json", methods=["GET"])
@signed_in.needs(MONEY)
def keys_json():
    """The hub's JWK set as GET /v1/settlement/keys answers it, to verify a statement offline."""
    answer = jsonify(JwkSet().dump(hub().signing.jwks()))
    answer.headers["Content-Disposition"] = 'attachment; filename="hub-keys.json"'
    return answer
