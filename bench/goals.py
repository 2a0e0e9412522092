"""The earn's targets on PostgreSQL, each beside its figure in the table.

Issue 16 sets them as shares of figures measured in the same run, so a
slow or busy machine moves the figure and its bound together: the earn
against pgbench's TPC-B rate (bench.pgbench), one hot member against the
spread earn and the redemption against the earn on the same path, with
the latency and CPU bounds absolute. Without a pgbench figure the earn
falls back to the absolute rates of the earlier issues.
"""

from __future__ import annotations

from bench.load import Measure
from bench.report import Target

TPC_B = "TPC-B"
#: Without pgbench: the earlier absolute bounds.
SERVICE_EARN = Target("ops/s", 500)
HTTP_EARN = Target("ops/s", 250)
#: Shares of pgbench's TPC-B tps: the earn through the service layer, and over HTTP.
SERVICE_SHARE, HTTP_SHARE = 0.70, 0.35
#: One hot member against the members spread, and the redemption against the earn (same path, same spread).
HOT_SHARE, REDEEM_SHARE = 0.50, 0.60
#: Over HTTP at 8 connections; the whole machine's busy CPU per earn (clients, hub and database).
HTTP_EARN_P99 = Target("p99", 25)
EARN_CPU = Target("cpu", 1.8)
#: A balance read on the member with 1M postings, one client: through the service layer, and over HTTP.
BALANCE_P99 = Target("p99", 10)
HTTP_BALANCE_P99 = Target("p99", 5)


def earn_spread(path: str, reference: Measure | None) -> list[Target]:
    """The spread earn on `path` ("service" or "http"): a share of TPC-B; over HTTP also its p99 and CPU."""
    if reference is not None:
        share = [Target("share", SERVICE_SHARE if path == "service" else HTTP_SHARE, reference, TPC_B)]
    else:
        share = [SERVICE_EARN if path == "service" else HTTP_EARN]
    return share + ([HTTP_EARN_P99, EARN_CPU] if path == "http" else [])


def writes(path: str, op: str, hot: bool, reference: Measure | None, spread: Measure | None) -> list[Target]:
    """The targets of one write scenario on PostgreSQL; `spread` is the spread earn on the same path, once measured."""
    if op == "earn" and not hot:
        return earn_spread(path, reference)
    if spread is None or (op == "redeem" and hot):
        return []
    if op == "earn":
        return [Target("share", HOT_SHARE, spread, "spread")]
    return [Target("share", REDEEM_SHARE, spread, "spread")]


def balance_read(path: str) -> Target:
    return HTTP_BALANCE_P99 if path == "http" else BALANCE_P99
