"""CSV import: rows per second through the csv adapter and the bulk booking, next to a raw insert of the same rows.

The file is written to disk first (default columns, one sale per row, cards
spread over the scene's members) and read back as a stream, exactly as
`coalition import` and `POST /v1/transactions/batch` read it. The raw
baseline inserts what the import writes (order, entry, two postings, lot,
award, running balances) in chunks of the same size, with the same
one-statement-per-table inserts (network.ledger.bulk): no parsing, no lock, no
rule, no duplicate check, ids of cards and accounts known in advance.
"""

from __future__ import annotations

import http.client
import json
import random
import resource
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine, select

from bench.load import Measure, machine_busy
from bench.world import LIFETIME, RULES, World, new_partner_spec
from network.clock import utc_now
from network.db import Database
from network.earning import intake
from network.earning.terms import Terms
from network.ledger import bulk
from network.ledger.journal import AVAILABLE, ISSUANCE
from network.models import Account, Award, JournalEntry, Lot, Order, Posting
from network.parties.registry import PartnerRef, create_partner
from plugins.csv_export import CsvExportAdapter

HEADER = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n"


def write_file(path: Path, world: World, rows: int, tag: str) -> None:
    rng = random.Random(rows)
    with path.open("w") as out:
        out.write(HEADER)
        for i in range(rows):
            member = rng.choice(world.members)
            out.write(f"{tag}-{i},sale,{member.card},2026-03-14T10:{i % 60:02d}:00+01:00,EUR,{rng.randint(100, 9999) / 100:.2f},\n")


def measured(rows: int, work) -> Measure:
    busy0, t0 = machine_busy(), time.perf_counter()
    work()
    seconds, busy1 = time.perf_counter() - t0, machine_busy()
    cpu = busy1 - busy0 if busy0 is not None and busy1 is not None else None
    return Measure(rows, 0, seconds, [], clients=1, requested=rows, machine_cpu=cpu)


def csv_partner(db: Database, slug: str = "bench-csv") -> tuple[PartnerRef, str]:
    """A partner whose adapter is csv: what the file is imported for, by the service layer and over HTTP."""
    spec = replace(new_partner_spec(slug), adapter="csv")
    return db.transact(lambda session: create_partner(session, spec, utc_now()))


def service_import(db: Database, partner: PartnerRef, path: Path) -> tuple[Measure, str]:
    """The csv adapter's read_rows into intake.import_rows, as `coalition import` runs it."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = {}

    def work():
        with path.open("rb") as stream:
            rows = CsvExportAdapter().read_rows(stream, {}, partner.timezone)
            outcome["result"] = intake.import_rows(db, partner, RULES, rows, clock=utc_now, terms=Terms(lifetime=LIFETIME))

    measure = measured(sum(1 for _ in path.open()) - 1, work)
    result = outcome["result"]
    if result.accepted != measure.ops or result.rejected_total:
        raise RuntimeError(f"import accepted {result.accepted} of {measure.ops}: {result.rejected[:3]}")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    note = (f"CSV import of {measure.ops:,} rows ({path.stat().st_size / 1e6:.1f} MB): all accepted; peak memory of the "
            f"bench process grew by {grown:.0f} MB while importing")
    return measure, note


def http_import(port: int, key: str, path: Path) -> Measure:
    """POST /v1/transactions/batch to `coalition serve`, the file streamed from disk."""
    rows = sum(1 for _ in path.open()) - 1

    def work():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        with path.open("rb") as body:
            connection.request("POST", "/v1/transactions/batch", body=body, headers={
                "Authorization": f"Bearer {key}", "Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)})
            response = connection.getresponse()
            answer = json.loads(response.read())
        if response.status != 200 or answer["accepted"] != rows:
            raise RuntimeError(f"HTTP import: {response.status} {str(answer)[:300]}")

    return measured(rows, work)


def raw_import(engine: Engine, world: World, partner: PartnerRef, path: Path, tag: str) -> Measure:
    """The same rows, inserted without the hub: ids of cards, accounts and partner known in advance."""
    issuance = partner.account_id(ISSUANCE)
    with engine.connect() as connection:
        available = dict(connection.execute(
            select(Account.member_id, Account.id).where(Account.kind == AVAILABLE, Account.member_id.is_not(None))).all())
    card_member = {m.card: m.member_id for m in world.members}
    lines = path.read_text().splitlines()[1:]
    entries, orders, postings, lots, awards = (
        JournalEntry.__table__, Order.__table__, Posting.__table__, Lot.__table__, Award.__table__)

    def work():
        now = utc_now()
        for start in range(0, len(lines), intake.CHUNK_ROWS):
            chunk = [line.split(",") for line in lines[start:start + intake.CHUNK_ROWS]]
            with engine.begin() as connection:
                connection.execution_options(write=True)
                members = [card_member[row[2]] for row in chunk]
                points = [int(row[5].split(".")[0]) for row in chunk]
                order_ids = [row.id for row in bulk.insert_many(connection, orders, [
                    {"order_id": f"{tag}-{row[0]}", "member_id": m, "points": p, "occurred_at": now, "total_minor": 1}
                    for row, m, p in zip(chunk, members, points)],
                    same={"partner_id": partner.id, "kind": "sale", "booked_at": now, "currency": "EUR"},
                    returning=("id",))]
                entry_ids = [row.id for row in bulk.insert_many(connection, entries, [
                    {"member_id": m, "order_id": o, "reason": "raw", "occurred_at": now}
                    for m, o in zip(members, order_ids)],
                    same={"kind": "earn", "partner_id": partner.id, "booked_at": now}, returning=("id",))]
                bulk.insert_many(connection, postings, [
                    posting for e, m, p in zip(entry_ids, members, points)
                    for posting in ({"entry_id": e, "account_id": issuance, "amount": -p},
                                    {"entry_id": e, "account_id": available[m], "amount": p})],
                    same={"booked_at": now})
                bulk.insert_many(connection, lots, [
                    {"member_id": m, "account_id": available[m], "entry_id": e, "points": p, "remaining": p}
                    for e, m, p in zip(entry_ids, members, points)],
                    same={"issuer_id": partner.id, "earned_at": now, "available_at": now, "expires_at": now + LIFETIME})
                bulk.insert_many(connection, awards, [{"entry_id": e, "points": p} for e, p in zip(entry_ids, points)],
                                 same={"rule": "base_rate", "detail": "raw"})
                changes: dict[int, int] = defaultdict(int)
                for m, p in zip(members, points):
                    changes[available[m]] += p
                bulk.add_to_balances(connection, changes)

    return measured(len(lines), work)
