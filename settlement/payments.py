"""A statement's transfers as money: the ISO 20022 file the bank pays from, and the bank's statement read back.

Out, `pain.001` (customer credit transfer initiation, version 03, the one
every SEPA bank takes), written and checked against its XSD by sepaxml:
the network pays each partner its statement says receives. Each transfer
carries one reference, `S<sequence>P<partner id>`, as its end-to-end id
and in its remittance text; a partner that pays the network is asked to
quote the same.

Back, `camt.053` (bank-to-customer statement): each booked entry is
matched by that reference, then checked for its direction, amount and
currency, and marks its transfer paid (a partner's payment of its
statement is funds for its credit, too). A credit entry quoting
`FUND-P<partner id>` records that partner's prepayment. An entry that
names no transfer, or one whose money differs, is reported with why,
never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import IO
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXML
from defusedxml import DefusedXmlException
from sepaxml import SepaTransfer
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid, NotFound
from network.models import Partner, TransferPayment
from network.parties import funding
from partners.money import Money, MoneyError, decimals
from settlement.banking import BankAccount
from settlement.figures import money
from settlement.runs import signed_statement

PAIN = "pain.001.001.03"
REFERENCE = re.compile(r"\bS(\d{1,9})P(\d{1,18})\b")
#: What a partner quotes when it sends funds ahead of its sales (network.parties.funding).
FUNDS = re.compile(r"\bFUND-P(\d{1,18})\b")


def reference(sequence: int, partner_id: int) -> str:
    """A transfer's reference: short enough for an end-to-end id (35 characters), the same in both directions."""
    return f"S{sequence}P{partner_id}"


@dataclass(frozen=True)
class Transfer:
    sequence: int
    partner_id: int
    slug: str
    direction: str  # "receives" (the network pays it) or "pays" (it pays the network)
    minor: int
    currency: str

    @property
    def reference(self) -> str:
        return reference(self.sequence, self.partner_id)


def transfers(session: Session, sequence: int) -> list[Transfer]:
    """The signed statement's net transfers, each with its partner's id."""
    statement = signed_statement(session, sequence)["statement"]
    ids = dict(session.execute(select(Partner.slug, Partner.id)).all())
    currency = statement["currency"]
    return [Transfer(sequence, ids[t["partner"]], t["partner"], t["direction"], _minor(t["amount"], currency), currency)
            for t in statement["transfers"] if t["partner"] in ids]


def _minor(text: str, currency: str) -> int:
    return Money.parse(text, currency).minor


def credit_transfers(session: Session, sequence: int, debtor: BankAccount | None, *, execution: date) -> bytes:
    """The pain.001 paying every partner the statement says receives, from the network's account `debtor`.

    A 422 `no_bank_account` naming each account that is missing: a file the
    bank would reject is never handed out.
    """
    owed = [t for t in transfers(session, sequence) if t.direction == "receives" and t.minor > 0]
    accounts = {row.id: row for row in session.execute(
        select(Partner.id, Partner.account_holder, Partner.iban, Partner.bic)
        .where(Partner.id.in_([t.partner_id for t in owed])))}
    missing = {} if debtor else {"network": ["set COALITION_NETWORK_ACCOUNT_HOLDER, _IBAN and _BIC"]}
    missing |= {t.slug: ["has no bank account (PUT /v1/partners/<slug>/bank-account)"] for t in owed
                if accounts[t.partner_id].iban is None}
    if missing:
        raise Invalid("A transfer file needs every account it names", missing, code="no_bank_account")
    if not owed:
        raise Invalid(f"Statement {sequence} pays no partner", {"sequence": ["has no transfer to a partner"]},
                      code="no_bank_account")
    sepa = SepaTransfer({"name": debtor.holder, "IBAN": debtor.iban, "BIC": debtor.bic, "batch": True,
                         "currency": owed[0].currency}, schema=PAIN)
    sepa.msg_id = f"COALITION-S{sequence}-{execution:%Y%m%d}"
    for t in owed:
        account = accounts[t.partner_id]
        sepa.add_payment({"name": account.account_holder, "IBAN": account.iban, "BIC": account.bic, "amount": t.minor,
                          "currency": t.currency, "execution_date": execution, "endtoend_id": t.reference,
                          "description": f"{t.reference} coalition statement {sequence}"})
    return sepa.export(validate=True)


@dataclass
class Imported:
    matched: list[dict]
    unmatched: list[dict]

    def view(self) -> dict:
        return {"matched": self.matched, "unmatched": self.unmatched}


def import_statement(session: Session, stream: IO[bytes], *, now: datetime) -> Imported:
    """Read a camt.053 and mark each transfer its entries pay; what cannot be matched is listed with why."""
    try:
        root = SafeXML.parse(stream).getroot()
    except (SafeXML.ParseError, DefusedXmlException) as exc:
        raise Invalid("Not a camt.053 bank statement", {"body": [str(exc)]}, code="unreadable_bank_statement") from None
    if _local(root.tag) != "Document" or _child(root, "BkToCstmrStmt") is None:
        raise Invalid("Not a camt.053 bank statement", {"body": ["has no Document/BkToCstmrStmt"]},
                      code="unreadable_bank_statement")
    done = Imported([], [])
    paid = {(row.sequence, row.partner_id) for row in session.execute(select(TransferPayment.sequence,
                                                                             TransferPayment.partner_id))}
    known: dict[int, dict[int, Transfer]] = {}
    for entry in _all(root, "Ntry"):
        _match(session, entry, known, paid, done, now)
    return done


def credited(stream: IO[bytes]) -> dict[int, Decimal]:
    """The most the statement's entries could add to each partner's funds: its credits quoting `FUND-P<partner id>` or
    one of its transfers' references, whether they match or not.

    Read before the import, which locks each partner's row as it records
    its funds, so that the members their releases will reach are locked
    first (network.earning.unfunded); an unreadable file names none, and the
    import says why.
    """
    try:
        root = SafeXML.parse(stream).getroot()
    except (SafeXML.ParseError, DefusedXmlException):
        return {}
    found: dict[int, Decimal] = {}
    for entry in _all(root, "Ntry"):
        for seen, texts in _lines(entry):
            named = REFERENCE.search(texts) or FUNDS.search(texts)
            try:
                amount = Decimal(seen["amount"] or "")
            except InvalidOperation:
                continue
            if named is not None and seen["direction"] == "CRDT" and amount.is_finite() and amount > 0:
                partner_id = int(named.group(named.lastindex or 1))
                found[partner_id] = found.get(partner_id, Decimal(0)) + amount
    return found


def _match(session: Session, entry: Element, known: dict, paid: set, done: Imported, now: datetime) -> None:
    """One booked entry: a transfer by itself, or a batch whose transactions (TxDtls) are matched one by one."""
    for seen, texts in _lines(entry):
        _one(session, seen, texts, known, paid, done, now)


def _lines(entry: Element) -> Iterator[tuple[dict, str]]:
    """What each line of a booked entry says (the entry itself, or each transaction of a batch), and the texts that
    may quote a reference."""
    booked = _text(entry, "BookgDt", "Dt") or _text(entry, "BookgDt", "DtTm")[:10]
    bank_reference = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    details = _all(entry, "TxDtls")
    lines = [(entry, entry)] if len(details) <= 1 else [(detail, entry) for detail in details]
    for line, outer in lines:
        amount_node = _amount(line) if line is not outer else _child(outer, "Amt")
        direction = _text(line, "CdtDbtInd") or _text(outer, "CdtDbtInd")
        texts = " ".join(node.text or "" for name in ("EndToEndId", "Ustrd", "Ref") for node in _all(line, name))
        yield ({"amount": None if amount_node is None else (amount_node.text or "").strip(),
                "currency": None if amount_node is None else amount_node.get("Ccy"), "direction": direction,
                "booked_on": booked, "bank_reference": bank_reference}, texts)


def _one(session: Session, seen: dict, texts: str, known: dict, paid: set, done: Imported, now: datetime) -> None:
    found = REFERENCE.search(texts)
    funds = FUNDS.search(texts)
    if found is None and funds is not None and seen["direction"] == "CRDT":
        _funds(session, seen, int(funds.group(1)), done, now)
        return
    if found is None:
        done.unmatched.append({**seen, "reason": "names no statement's transfer (no S<sequence>P<partner> reference)"})
        return
    sequence, partner_id = int(found.group(1)), int(found.group(2))
    if sequence not in known:
        try:
            known[sequence] = {t.partner_id: t for t in transfers(session, sequence)}
        except NotFound:
            known[sequence] = {}
    transfer = known[sequence].get(partner_id)
    seen["reference"] = found.group(0)
    if transfer is None:
        done.unmatched.append({**seen, "reason": f"statement {sequence} has no transfer with partner {partner_id}"})
        return
    expected = "DBIT" if transfer.direction == "receives" else "CRDT"
    try:
        minor = _minor(seen["amount"] or "", transfer.currency)
    except MoneyError:  # not an amount, or more decimals than the currency has: not this transfer's
        minor = None
    if seen["direction"] != expected or minor != transfer.minor or seen["currency"] != transfer.currency:
        done.unmatched.append({**seen, "reason": f"{transfer.slug} {transfer.direction} "
                                                 f"{money(transfer.minor, transfer.currency)} "
                                                 f"{transfer.currency}: the entry says otherwise"})
        return
    if (sequence, partner_id) in paid:
        done.unmatched.append({**seen, "reason": f"statement {sequence}'s transfer with {transfer.slug} is paid already"})
        return
    session.execute(insert(TransferPayment).values(
        sequence=sequence, partner_id=partner_id, amount_minor=minor, currency=transfer.currency,
        booked_on=seen["booked_on"] or "", bank_reference=(seen["bank_reference"] or found.group(0))[:140],
        created_at=now))
    paid.add((sequence, partner_id))
    done.matched.append({**seen, "partner": transfer.slug, "sequence": sequence})
    if transfer.direction == "pays" and _funded(session, partner_id):  # its statement paid: it may draw again
        funding.fund(session, partner_id, Decimal(minor).scaleb(-decimals(transfer.currency)), found.group(0), now)


def _funded(session: Session, partner_id: int) -> bool:
    return session.scalar(select(Partner.funding).where(Partner.id == partner_id)) is not None


def _funds(session: Session, seen: dict, partner_id: int, done: Imported, now: datetime) -> None:
    """A partner's prepayment, quoting `FUND-P<partner id>`: recorded once, by the bank's reference for the entry."""
    slug = session.scalar(select(Partner.slug).where(Partner.id == partner_id, Partner.funding.is_not(None)))
    reference = seen["bank_reference"] or ""
    try:
        amount = Decimal(seen["amount"] or "")
    except InvalidOperation:
        amount = Decimal(0)
    if slug is None or not reference or amount <= 0:
        done.unmatched.append({**seen, "reason": f"funds for partner {partner_id}, which draws on no funds, or an "
                                                 "entry without a bank reference or amount"})
        return
    try:
        with session.begin_nested():
            funding.fund(session, partner_id, amount, reference, now)
    except Conflict:
        done.unmatched.append({**seen, "reason": f"{slug}'s funds with this bank reference are recorded already"})
        return
    done.matched.append({**seen, "partner": slug, "prepayment": True})


def _amount(detail: Element) -> Element | None:
    """A transaction's own amount in a batch entry: AmtDtls/TxAmt/Amt, or its Amt."""
    for path in (("AmtDtls", "TxAmt", "Amt"), ("AmtDtls", "InstdAmt", "Amt"), ("Amt",)):
        node = detail
        for name in path:
            node = _child(node, name) if node is not None else None
        if node is not None:
            return node
    return None


def payments(session: Session, sequence: int) -> dict[int, dict]:
    """Statement `sequence`'s transfers seen paid, by partner id."""
    return {row.partner_id: {"booked_on": row.booked_on, "bank_reference": row.bank_reference}
            for row in session.execute(select(TransferPayment).where(TransferPayment.sequence == sequence)).scalars()}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: Element, name: str) -> Element | None:
    return next((child for child in node if _local(child.tag) == name), None)


def _all(node: Element, name: str) -> list[Element]:
    return [found for found in node.iter() if _local(found.tag) == name]


def _text(node: Element, *path: str) -> str:
    for name in path:
        node = _child(node, name) if node is not None else None
    return (node.text or "").strip() if node is not None else ""
