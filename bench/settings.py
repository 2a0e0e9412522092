"""What one `python -m bench` run measures, as its options set it (bench.__main__)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    clients: int
    ops: int
    members: int
    partners: int
    postings: int
    reads: int
    max_seconds: float
    processes: int
    http: bool
    progress: bool
    csv_rows: int = 100_000
    #: Member sales in the POSLog files of 50 (bench.tills).
    poslog_transactions: int = 5_000
    settlement_postings: int = 1_000_000
    #: Events in the webhook drain (0: no delivery scenario).
    delivery_events: int = 10_000
    #: Length of each wrk run and of the pgbench run: they run on the clock, the Python client runs `ops`.
    seconds: int = 15
    #: What drives the HTTP scenarios: "wrk", or "python" (bench.web's client: also when wrk is missing).
    http_driver: str = "wrk"
    #: Measure pgbench's TPC-B rate first, the reference of the earn's targets on PostgreSQL.
    pgbench: bool = True
