"""`make bench`: earn and redeem throughput of the hub, next to a raw baseline.

Run as `python -m bench` (see `python -m bench --help`). Each backend gets a
fresh database (a temporary SQLite file; a PostgreSQL database
`coalition_bench_<random>` created and dropped), migrated with the real
Alembic migrations. Measured, per backend:

- on PostgreSQL first, pgbench's TPC-B rate (its default script, scale 10,
  8 clients, -j 2, as long as a wrk run) on a database of its own: the earn
  rows show their share of it (tpc-b ratio), and the earn's targets (issue
  16) are shares of it, of the spread earn on the same path, or absolute;
- the service layer (`network.earning.sales.record_sale`, `network.spending.redemptions.redeem`
  inside `Database.transact`), 8 concurrent client threads, members spread
  over many members and all on one hot member; the spread earn once more with
  the 8 clients split over 2 processes (one process runs Python on one core);
- a raw baseline in the same run: the same rows written with bare SQLAlchemy
  Core (entry, postings, lot, order, balance update), no lock, no lookup, no
  business logic, so the ratio is the ledger's own overhead;
- HTTP: `coalition serve` (gunicorn at its defaults: a worker per CPU x 4
  threads) driven by wrk (bench/wrk.lua: 8 connections, 2 threads, on the
  clock) or, without wrk (`apt-get install wrk`) or with `--http-driver
  python`, by 8 Python keep-alive clients; the driver column says which.
  After each write run the orders and entries booked under its order ids
  are counted against its answers 201. A gunicorn hello-world, by each
  driver, is the HTTP ceiling and the Python client's own;
- balance reads on one member with 1M postings, through the service layer
  and over HTTP, p50/p99 latency;
- on PostgreSQL, webhook delivery (`--only delivery` alone): `coalition
  events deliver` processes sending to a local receiver, a drain of 10,000
  events of which 30% are answered 500, a slow partner beside healthy ones,
  an attempt's deadline on an endpoint that drips its answer, a deliverer
  killed mid-send, and events lost or duplicated, each beside a reference
  (the receiver's capacity and own answer time) measured in the same run.

Results print as one table; `--markdown FILE` also writes it as Markdown
with the machine it ran on (that is how bench/RESULTS.md was made). The
ledger's invariants are checked after the concurrent writes.

`python -m bench.hotspots` profiles one operation at a time (service layer,
raw baseline, or the Flask app in process) and lists the SQL it sends.

Modules: `settings` (what a run measures), `load` (the closed-loop client
threads), `backends` (fresh databases), `world` (partners and funded
members), `service`, `raw`, `web` (gunicorn subprocess and keep-alive
clients), `wrk` (wrk runs of bench/wrk.lua and what they booked),
`over_http` (the HTTP scenarios, by wrk or the Python client), `pgbench`
(the TPC-B reference), `goals` (the earn's targets), `procs` (clients in
several processes), `seed` (the member with a million postings), `report`
(table, targets, machine), `delivery` (the webhook scenarios), `receiver`
(their partners' HTTP endpoints and its record), `deliverers` (the
deliverer and receiver processes).
"""
