"""A till's POSLog, booked as tills send it: files of 50 transactions, each file one `import_rows` call.

Issue 14 made a POSLog file book transaction by transaction (a resent or
growing log books only what is new); that must not cost a database
transaction per row. Each file here holds 50 member sales of two lines and a
tender, with a grand and a tax amount, as NCR's logs carry them; the rate is
transactions per second over every file, beside the CSV import and the raw
insert of the same run. The last file is sent again, as an hourly resend
does, and must book nothing.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from bench.imports import measured
from bench.load import Measure
from bench.world import LIFETIME, RULES, World, new_partner_spec
from network.clock import utc_now
from network.db import Database
from network.earning import intake
from network.earning.terms import Terms
from network.parties.registry import PartnerRef, create_partner
from plugins.poslog import PoslogAdapter

PER_FILE = 50

_TRANSACTION = """  <Transaction>
    <RetailStoreID>{store}</RetailStoreID>
    <WorkstationID>{till}</WorkstationID>
    <SequenceNumber>{sequence}</SequenceNumber>
    <BusinessDayDate>2026-03-14</BusinessDayDate>
    <EndDateTime>2026-03-14T{hour:02d}:{minute:02d}:00</EndDateTime>
    <CurrencyCode>EUR</CurrencyCode>
    <RetailTransaction Version="2.2">
      <LineItem>
        <SequenceNumber>1</SequenceNumber>
        <Sale ItemType="Stock">
          <ItemID>5000112637922</ItemID>
          <MerchandiseHierarchy Level="Department">DRINKS</MerchandiseHierarchy>
          <ExtendedAmount>{first}</ExtendedAmount>
          <Quantity>1</Quantity>
        </Sale>
      </LineItem>
      <LineItem>
        <SequenceNumber>2</SequenceNumber>
        <Sale ItemType="Stock">
          <ItemID>BREAD-800</ItemID>
          <ExtendedAmount>{second}</ExtendedAmount>
          <Quantity>2</Quantity>
        </Sale>
      </LineItem>
      <LineItem>
        <SequenceNumber>3</SequenceNumber>
        <Tender TenderType="Card" TypeCode="Sale"><Amount>{grand}</Amount></Tender>
      </LineItem>
      <Total TotalType="TransactionGrandAmount">{grand}</Total>
      <Total TotalType="TransactionTaxAmount">{tax}</Total>
      <LoyaltyAccount><LoyaltyAccountID>{card}</LoyaltyAccountID></LoyaltyAccount>
    </RetailTransaction>
  </Transaction>
"""


def till_partner(db: Database, slug: str = "bench-till") -> PartnerRef:
    spec = replace(new_partner_spec(slug), adapter="poslog")
    return db.transact(lambda session: create_partner(session, spec, utc_now()))[0]


def write_logs(folder: Path, world: World, transactions: int, till: int) -> list[Path]:
    """`transactions` member sales in files of PER_FILE, each a day's log of one till."""
    rng, paths = random.Random(transactions), []
    for start in range(0, transactions, PER_FILE):
        path = folder / f"poslog-{till}-{start // PER_FILE:05d}.xml"
        with path.open("w") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n<POSLog>\n')
            for sequence in range(start + 1, min(start + PER_FILE, transactions) + 1):
                first, second = rng.randint(100, 4999), rng.randint(100, 2999)
                tax = (first + second) // 10
                out.write(_TRANSACTION.format(
                    store=214, till=till, sequence=sequence, hour=8 + sequence % 12, minute=sequence % 60,
                    first=_major(first), second=_major(second), grand=_major(first + second + tax), tax=_major(tax),
                    card=rng.choice(world.members).card))
            out.write("</POSLog>\n")
        paths.append(path)
    return paths


def _major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def book_logs(db: Database, partner: PartnerRef, paths: list[Path]) -> tuple[Measure, str]:
    """Each file through the poslog adapter's read_rows into intake.import_rows, as POST /v1/transactions/batch runs it."""
    adapter, outcomes = PoslogAdapter(), []

    def book(path: Path) -> intake.BatchOutcome:
        with path.open("rb") as stream:
            rows = adapter.read_rows(stream, {}, partner.timezone)
            return intake.import_rows(db, partner, RULES, rows, clock=utc_now, terms=Terms(lifetime=LIFETIME))

    total = sum(path.read_text().count("<Transaction>") for path in paths)
    measure = measured(total, lambda: outcomes.extend(book(path) for path in paths))
    accepted = sum(outcome.accepted for outcome in outcomes)
    if accepted != total or any(outcome.rejected_total for outcome in outcomes):
        raise RuntimeError(f"POSLog booking accepted {accepted} of {total}")
    resent = book(paths[-1])
    if resent.accepted or resent.duplicates != PER_FILE:
        raise RuntimeError(f"a resent log booked {resent.accepted} and found {resent.duplicates} duplicates")
    note = (f"{len(paths)} POSLog files of {PER_FILE} member sales each, one import per file (a database transaction "
            f"per file, not per sale); the last file sent again booked nothing ({resent.duplicates} duplicates)")
    return measure, note
