"""`coalition demo`: a small coalition built through the real HTTP API, then summarised.

The demo starts the hub in this process on a free local port (werkzeug's
threaded server) and talks to it with `http.client` exactly as a till or the
operator would: bearer tokens, JSON bodies, an Idempotency-Key on every
write. Nothing is written to the database behind the API's back; the
database is only read at the end, for the summary and the invariant check.

Everything is drawn from `random.Random(seed)`, so one seed gives the same
baskets, refunds and redemptions (and so the same points) on every run; card
numbers and member ids are the hub's own and differ. Money is built from
integer cents and written as decimal strings; no float touches a price.
"""

from __future__ import annotations

import http.client
import json
import secrets
import socket
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import click
from sqlalchemy import case, func, select
from werkzeug.serving import WSGIRequestHandler, make_server

TIMEZONE = "Europe/Paris"
CURRENCY = "EUR"
DAYS = 28
REFUND_RATE = 0.08  # share of sales later refunded, in part or in full
REDEMPTIONS_PER_SALE = 0.15  # redemption attempts per sale
REFUSED_RATE = 0.12  # share of redemption attempts that ask for more than the card holds
HOME_SHARE = 0.65  # share of a member's sales at their own partner
REWARDS = (50, 100, 150, 200, 250, 300, 400, 500)  # points a till offers to redeem


class DemoError(Exception):
    """The hub answered something the demo did not expect."""


# ---------------------------------------------------------------- the partners and what they sell


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    cents: int  # unit price; per kg or per litre when `unit` says so
    unit: str | None = None  # "kg" (3-decimal quantity) or "l" (2-decimal quantity)


@dataclass(frozen=True)
class Trade:
    slug: str
    name: str
    trade: str
    earn_rate: str  # points per euro, a decimal string as the API takes it
    weight: float  # how often a member shops there, relative to the others
    prefix: str  # of the till's receipt numbers
    hours: tuple[int, int]  # opening hours, local time
    products: tuple[Product, ...]
    basket: tuple[int, int]  # allowed total, in cents
    items: tuple[int, int]  # lines per basket


PARTNERS = (
    Trade(
        "brew-bar", "Brew Bar", "coffee chain", "2", 0.45, "BB", (7, 19),
        (
            Product("ESPRESSO", "coffee", 240),
            Product("CAPPUCCINO", "coffee", 340),
            Product("LATTE", "coffee", 380),
            Product("FLAT-WHITE", "coffee", 360),
            Product("CHAI-LATTE", "tea", 390),
            Product("CROISSANT", "bakery", 180),
            Product("MUFFIN", "bakery", 280),
            Product("BAGEL-SALMON", "food", 650),
            Product("BEANS-250G", "retail", 890),
        ),
        (280, 1200), (1, 3),
    ),
    Trade(
        "green-grocer", "Green Grocer", "grocer", "1", 0.35, "GG", (8, 21),
        (
            Product("APPLES", "produce", 329, "kg"),
            Product("TOMATOES", "produce", 449, "kg"),
            Product("BANANAS", "produce", 199, "kg"),
            Product("POTATOES", "produce", 159, "kg"),
            Product("COMTE", "cheese", 2490, "kg"),
            Product("MILK-1L", "dairy", 119),
            Product("YOGURT-4", "dairy", 259),
            Product("EGGS-12", "dairy", 389),
            Product("BAGUETTE", "bakery", 130),
            Product("PASTA-500G", "pantry", 165),
            Product("OLIVE-OIL-1L", "pantry", 1190),
            Product("COFFEE-1KG", "pantry", 1590),
            Product("WINE-BORDEAUX", "drinks", 1290),
            Product("DISH-SOAP", "household", 279),
        ),
        (800, 12000), (2, 14),
    ),
    Trade(
        "fuel-stop", "Fuel Stop", "fuel station", "0.5", 0.20, "FS", (6, 22),
        (
            Product("SP95-E10", "fuel", 179, "l"),
            Product("DIESEL", "fuel", 169, "l"),
        ),
        (3000, 9000), (1, 1),
    ),
)

FIRST_NAMES = (
    "Ann", "Bruno", "Chloe", "David", "Emma", "Farid", "Giulia", "Hugo", "Ines", "Jonas", "Karim", "Lea",
    "Marc", "Nadia", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tess", "Ugo", "Vera", "Wen", "Yanis", "Zoe",
)
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Garcia", "Rossi", "Nguyen",
    "Fischer", "Leroy", "Roux", "Fontaine", "Chevalier", "Lambert", "Bonnet", "Mercier", "Dupont", "Costa",
)


def money(cents: int) -> str:
    """Integer cents as the API's decimal string: 1250 -> "12.50"."""
    return f"{cents // 100}.{cents % 100:02d}"


def _round_div(numerator: int, denominator: int) -> int:
    """Round half up, in integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def basket(rng: Random, trade: Trade) -> tuple[list[dict], list[int]]:
    """A plausible basket for this trade: canonical line items, and what each line costs in cents."""
    low, high = trade.basket
    while True:
        lines, amounts = [], []
        for _ in range(rng.randint(*trade.items)):
            product = rng.choice(trade.products)
            if product.unit == "l":
                # Fill up for a total between the trade's bounds: litres to the centilitre.
                centilitres = rng.randint(-(-low * 100 // product.cents), high * 100 // product.cents)
                quantity, cents = f"{centilitres // 100}.{centilitres % 100:02d}", _round_div(centilitres * product.cents, 100)
            elif product.unit == "kg":
                grams = rng.randint(1, 30) * 50 if product.category == "produce" else rng.randint(2, 8) * 50
                quantity, cents = f"{grams // 1000}.{grams % 1000:03d}", _round_div(grams * product.cents, 1000)
            else:
                count = rng.choices((1, 2, 3), weights=(8, 3, 1))[0]
                quantity, cents = count, count * product.cents
            lines.append({"sku": product.sku, "category": product.category, "quantity": quantity, "unit_price": money(product.cents)})
            amounts.append(cents)
        if low <= sum(amounts) <= high:
            return lines, amounts


# ---------------------------------------------------------------- the plan


@dataclass
class Member:
    index: int
    name: str
    email: str
    home: int  # index into PARTNERS
    activity: float
    member_id: str = ""
    card: str = ""
    available: int = 0  # as last told by the hub


@dataclass
class SaleEvent:
    minute: int
    seq: int
    member: int
    partner: int
    total: int
    lines: list[dict]
    order_id: str = ""  # the till's receipt number, given when the sale is rung up


@dataclass
class RefundEvent:
    minute: int
    seq: int
    sale: SaleEvent
    total: int
    full: bool


@dataclass
class RedemptionSlot:
    minute: int
    seq: int


@dataclass
class Tally:
    sales: int = 0
    refunds: int = 0
    full_refunds: int = 0
    redemptions: int = 0
    refused: int = 0
    skipped: int = 0
    uncollected: int = 0  # refund claw-backs the balance could no longer cover
    requests: int = 0
    replay: str = ""
    mismatched_balances: list[str] = field(default_factory=list)


def plan(rng: Random, member_count: int, sale_count: int) -> tuple[list[Member], list]:
    weights = [t.weight for t in PARTNERS]
    members = []
    for i in range(member_count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        home = rng.choices(range(len(PARTNERS)), weights=weights)[0]
        members.append(
            Member(i, f"{first} {last}", f"{first}.{last}.{i + 1}@example.com".lower(), home, rng.uniform(0.3, 3.0))
        )
    period = DAYS * 24 * 60
    events: list = []
    sequence = iter(range(10**9))
    activity = [m.activity for m in members]
    for _ in range(sale_count):
        member = rng.choices(range(member_count), weights=activity)[0]
        if rng.random() < HOME_SHARE:
            partner = members[member].home
        else:
            partner = rng.choices(range(len(PARTNERS)), weights=weights)[0]
        trade = PARTNERS[partner]
        opening, closing = trade.hours
        minute = rng.randrange(DAYS) * 1440 + rng.randrange(opening * 60, closing * 60)
        lines, amounts = basket(rng, trade)
        sale = SaleEvent(minute, next(sequence), member, partner, sum(amounts), lines)
        events.append(sale)
        if rng.random() < REFUND_RATE:
            # A whole basket taken back, or one line of it (the spoilt yogurt).
            amount = sale.total if len(lines) == 1 or rng.random() < 0.4 else rng.choice(amounts)
            full = amount == sale.total
            later = min(minute + rng.randint(30, 3 * 1440), period - 1)
            events.append(RefundEvent(later, next(sequence), sale, amount, full))
    for _ in range(round(sale_count * REDEMPTIONS_PER_SALE)):
        events.append(RedemptionSlot(rng.randrange(period // 4, period), next(sequence)))
    events.sort(key=lambda e: (e.minute, e.seq))
    return members, events


# ---------------------------------------------------------------- HTTP, as a till speaks it


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):  # one line per request would drown the summary
        pass


@dataclass
class Answer:
    status: int
    headers: dict
    body: dict
    text: str
    key: str | None = None  # the Idempotency-Key it was sent with


class Client:
    """One keep-alive HTTP connection to the hub."""

    def __init__(self, host: str, port: int, tally: Tally):
        self.connection = http.client.HTTPConnection(host, port, timeout=30)
        self.tally = tally
        self.keys = 0

    def call(self, method: str, path: str, token: str, body: dict | None = None, *, key: str | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            if key is None:
                self.keys += 1
                key = f"demo-{self.keys:06d}"
            headers["Idempotency-Key"] = key
        answer = self.send(method, path, headers, data)
        answer.key = key
        return answer

    def send(self, method: str, path: str, headers: dict, data: bytes | None) -> Answer:
        if self.connection.sock is None:
            self.connection.connect()
            # http.client writes the headers and the body in two sends: without this,
            # Nagle's algorithm and delayed ACKs stall every POST.
            self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        self.tally.requests += 1
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body, text)

    def close(self) -> None:
        self.connection.close()


def expect(answer: Answer, status: int, what: str) -> dict:
    if answer.status != status:
        raise DemoError(f"{what}: expected HTTP {status}, got {answer.status}: {answer.text[:500]}")
    return answer.body


# ---------------------------------------------------------------- the run


def default_database() -> Path:
    from flask import Flask

    return Path(Flask("network").instance_path) / "demo.db"


def _is_demo_database(path: Path) -> bool:
    """Only ever delete a file this command made (its partners are the demo's) or an empty ledger."""
    if path.stat().st_size == 0:
        return True
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            slugs = {row[0] for row in connection.execute("SELECT slug FROM partners")}
            rows = connection.execute("SELECT (SELECT count(*) FROM members) + (SELECT count(*) FROM journal_entries)").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return False
    return (bool(slugs) and slugs <= {t.slug for t in PARTNERS}) or (not slugs and rows == 0)


def fresh_file(path: Path) -> None:
    if path.exists() and not _is_demo_database(path):
        raise click.UsageError(f"{path} exists and is not a demo database; remove it or pass another --database")
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_demo(database: str | None, *, member_count: int, sale_count: int, seed: int) -> int:
    """Build the demo network through the API, print what happened; 0 if every ledger invariant holds."""
    if member_count < 1 or sale_count < 1:
        raise click.UsageError("--members and --sales must be at least 1")
    path = Path(database).resolve() if database else default_database()
    fresh_file(path)

    from network import create_app
    from network.schema import upgrade

    started = time.monotonic()
    admin_token = secrets.token_urlsafe(24)
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "COALITION_ADMIN_TOKEN": admin_token})
    db = app.extensions["coalition"].db
    upgrade(db.engine)

    rng = Random(seed)
    members, events = plan(rng, member_count, sale_count)
    tally = Tally()

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="coalition-demo-hub", daemon=True)
    thread.start()
    click.echo(f"Coalition demo (seed {seed}): {len(PARTNERS)} partners, {member_count} members, {sale_count} sales")
    click.echo(f"  database  {path}")
    click.echo(f"  hub       http://127.0.0.1:{server.server_port}/v1 (in this process; every step below is an HTTP request)")
    click.echo()
    client = Client("127.0.0.1", server.server_port, tally)
    try:
        try:
            keys, history = _drive(client, admin_token, rng, members, events, tally)
        finally:
            client.close()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        elapsed = time.monotonic() - started
        with db.session() as session:
            ok = _summary(session, members, tally, history, elapsed)
    except DemoError as exc:
        click.secho(f"demo failed: {exc}", fg="red", err=True)
        return 1
    finally:
        db.engine.dispose()  # closes the file (and checkpoints its WAL) before anyone opens it
    _next_steps(path, keys, members)
    return 0 if ok else 1


def _drive(client: Client, admin: str, rng: Random, members: list[Member], events: list, tally: Tally):
    """Every request of the demo, in order, under one progress bar."""
    steps = len(PARTNERS) + len(members) + len(events) + 1 + len(members) + 1
    phase = {"label": ""}
    with click.progressbar(length=steps, label="Building the network", show_pos=True,
                           item_show_func=lambda _: phase["label"]) as bar:

        def step(label: str) -> None:
            phase["label"] = label
            bar.update(1)

        keys = []
        for trade in PARTNERS:
            body = {"slug": trade.slug, "name": trade.name, "timezone": TIMEZONE, "currency": CURRENCY,
                    "adapter": "canonical", "earn_rate": trade.earn_rate}
            keys.append(expect(client.call("POST", "/v1/partners", admin, body), 201, f"creating {trade.name}")["api_key"])
            step("partners")

        for member in members:
            body = {"email": member.email, "name": member.name}
            created = expect(client.call("POST", "/v1/members", keys[member.home], body), 201, f"enrolling {member.name}")
            member.member_id, member.card = created["member_id"], created["card_number"]
            step("members")

        start = datetime.now(ZoneInfo(TIMEZONE)).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS)

        def at(minute: int) -> str:
            return (start + timedelta(minutes=minute)).isoformat(timespec="seconds")

        receipts = Counter()

        def receipt(partner: int) -> str:
            receipts[partner] += 1
            return f"{PARTNERS[partner].prefix}-{receipts[partner]:05d}"

        first_sale = None
        for event in events:
            if isinstance(event, SaleEvent):
                member = members[event.member]
                event.order_id = receipt(event.partner)
                body = {"type": "sale", "order_id": event.order_id, "card_number": member.card, "occurred_at": at(event.minute),
                        "currency": CURRENCY, "total": money(event.total), "items": event.lines}
                answer = client.call("POST", "/v1/transactions", keys[event.partner], body)
                member.available = expect(answer, 201, f"sale {event.order_id}")["balance"]["available"]
                tally.sales += 1
                if first_sale is None:
                    first_sale = (event, body, answer)
                step("sales, refunds, redemptions")
            elif isinstance(event, RefundEvent):
                sale = event.sale
                order_id = receipt(sale.partner)
                body = {"type": "refund", "order_id": order_id, "original_order_id": sale.order_id,
                        "occurred_at": at(event.minute), "currency": CURRENCY, "total": money(event.total)}
                answer = client.call("POST", "/v1/transactions", keys[sale.partner], body)
                refunded = expect(answer, 201, f"refund {order_id}")
                members[sale.member].available = refunded["balance"]["available"]
                tally.uncollected += refunded.get("uncollected_points", 0)
                tally.refunds += 1
                tally.full_refunds += event.full
                step("sales, refunds, redemptions")
            else:
                _redeem(client, rng, members, keys, tally, receipt)
                step("sales, refunds, redemptions")

        tally.replay = _replay(client, keys, members, *first_sale)
        step("idempotent replay")

        for member in members:
            answer = client.call("GET", f"/v1/cards/{member.card}/balance", keys[member.home])
            available = expect(answer, 200, f"balance of {member.card}")["available"]
            if available != member.available:
                tally.mismatched_balances.append(f"{member.card}: hub says {available}, tills were told {member.available}")
            member.available = available
            step("reading balances back")

        top = max(members, key=lambda m: (m.available, -m.index))
        history = expect(client.call("GET", f"/v1/members/{top.member_id}/history?limit=4", admin), 200, "history")
        step("done")
    return keys, history


def _redeem(client: Client, rng: Random, members: list[Member], keys: list[str], tally: Tally, receipt) -> None:
    """A member with points spends them at a partner other than their own; now and then one asks for too many."""
    eligible = [m for m in members if m.available >= REWARDS[0]]
    if not eligible:
        tally.skipped += 1
        return
    member = rng.choice(eligible)
    partner = rng.choice([i for i in range(len(PARTNERS)) if i != member.home])
    if rng.random() < REFUSED_RATE:
        points = next((r for r in REWARDS if r > member.available), member.available + 50)
    else:
        points = rng.choice([r for r in REWARDS if r <= member.available])
    order_id = receipt(partner)
    answer = client.call("POST", "/v1/redemptions", keys[partner], {"card_number": member.card, "points": points, "order_id": order_id})
    if answer.status == 201:
        tally.redemptions += 1
        member.available = answer.body["balance"]["available"]
    elif answer.status == 422 and answer.body.get("error", {}).get("code") == "insufficient_points":
        tally.refused += 1
    else:
        expect(answer, 201, f"redemption {order_id}")


def _replay(client: Client, keys: list[str], members: list[Member], sale: SaleEvent, body: dict, original: Answer) -> str:
    """Resend the first sale byte for byte, same Idempotency-Key: the hub answers as before and books nothing."""
    member = members[sale.member]
    key = keys[sale.partner]
    before = expect(client.call("GET", f"/v1/cards/{member.card}/balance", key), 200, "balance")["available"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": original.key}
    answer = client.send("POST", "/v1/transactions", headers, json.dumps(body).encode())
    after = expect(client.call("GET", f"/v1/cards/{member.card}/balance", key), 200, "balance")["available"]
    replayed = answer.headers.get("idempotent-replayed") == "true"
    if answer.status != original.status or answer.text != original.text or not replayed or after != before:
        raise DemoError(
            f"replaying sale {sale.order_id} was not idempotent: HTTP {answer.status}, replayed={replayed}, "
            f"balance {before} -> {after}"
        )
    return (f"sale {sale.order_id} resent with its Idempotency-Key: HTTP {answer.status}, "
            f"Idempotent-Replayed: true, same body; balance still {after}")


# ---------------------------------------------------------------- the summary, read from the ledger


class Amount(str):
    """Money already written for people ("14,250.34"): right-aligned like a number."""


def euros(cents: int) -> Amount:
    return Amount(f"{cents // 100:,}.{cents % 100:02d}")


def _table(headers: list[str] | None, rows: list[list], indent: str = "  ") -> None:
    """Plain aligned columns: text left-aligned, numbers right-aligned, a rule under the header."""
    width = len(headers) if headers else max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    numeric = [all(isinstance(row[i], (int, Amount)) or row[i] == "" for row in rows) for i in range(width)]
    cells = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    if headers:
        cells.insert(0, list(headers))
    widths = [max(len(row[i]) for row in cells) for i in range(width)]
    for n, row in enumerate(cells):
        line = "  ".join(cell.rjust(w) if numeric[i] else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        click.echo(indent + line.rstrip())
        if headers and n == 0:
            click.echo(indent + "  ".join("-" * w for w in widths))


def _local(timestamp: str) -> str:
    return datetime.fromisoformat(timestamp).astimezone(ZoneInfo(TIMEZONE)).strftime("%a %d %b %H:%M")


def _rates(rules: list[dict]) -> str:
    rates = [f"{rule['rate']} pt/EUR" for rule in rules if rule.get("rule") == "base_rate"]
    return " + ".join(rates) or "no base rate"


def _summary(session, members: list[Member], tally: Tally, history: dict, elapsed: float) -> bool:
    from network.invariants import check
    from network.ledger import ISSUANCE, REDEMPTION
    from network.models import Account, JournalEntry, Lot, LotMovement, Order, Partner, Posting

    partners = session.execute(select(Partner.id, Partner.slug, Partner.name, Partner.rules).order_by(Partner.id)).all()
    names = {p.id: p.name for p in partners}
    postings = dict(
        ((row.partner_id, row.kind), row)
        for row in session.execute(
            select(
                Account.partner_id,
                Account.kind,
                func.coalesce(func.sum(case((Posting.amount < 0, -Posting.amount), else_=0)), 0).label("debits"),
                func.coalesce(func.sum(case((Posting.amount > 0, Posting.amount), else_=0)), 0).label("credits"),
            )
            .join(Posting, Posting.account_id == Account.id)
            .where(Account.partner_id.is_not(None))
            .group_by(Account.partner_id, Account.kind)
        )
    )
    orders = {
        (row.partner_id, row.kind): row
        for row in session.execute(
            select(Order.partner_id, Order.kind, func.count().label("n"), func.coalesce(func.sum(Order.total_minor), 0).label("minor"))
            .group_by(Order.partner_id, Order.kind)
        )
    }

    def amount(table, key, column):
        row = table.get(key)
        return getattr(row, column) if row is not None else 0

    click.echo()
    click.secho("Points by partner", bold=True)
    click.echo("  (earned on sales, clawed back by refunds; issued = earned - clawed back; redeemed = spent at that partner's tills)")
    rows = []
    trade_of = {t.slug: t for t in PARTNERS}
    for p in partners:
        trade = trade_of.get(p.slug)
        earned = amount(postings, (p.id, ISSUANCE), "debits")
        clawed = amount(postings, (p.id, ISSUANCE), "credits")
        redeemed = amount(postings, (p.id, REDEMPTION), "credits") - amount(postings, (p.id, REDEMPTION), "debits")
        rows.append([
            p.name, trade.trade if trade else "", _rates(p.rules),
            amount(orders, (p.id, "sale"), "n"), euros(amount(orders, (p.id, "sale"), "minor")),
            amount(orders, (p.id, "refund"), "n"), earned, clawed, earned - clawed, redeemed,
        ])
    total = ["total", "", "", *(sum(r[i] for r in rows) for i in (3,)), euros(sum(amount(orders, (p.id, "sale"), "minor") for p in partners)),
             *(sum(r[i] for r in rows) for i in (5, 6, 7, 8, 9))]
    _table(["partner", "trade", "earn rate", "sales", "takings EUR", "refunds", "earned", "clawed back", "issued", "redeemed"],
           rows + [total])

    click.echo()
    click.secho("Whose points were spent where (settlement's provenance matrix)", bold=True)
    click.echo("  (rows: the partner that issued the points; columns: the partner where they were redeemed)")
    spent = defaultdict(int)
    for issuer, redeemer, points in session.execute(
        select(Lot.issuer_id, JournalEntry.partner_id, -func.sum(LotMovement.points))
        .join(Lot, Lot.id == LotMovement.lot_id)
        .join(JournalEntry, JournalEntry.id == LotMovement.entry_id)
        .where(JournalEntry.kind.in_(("redemption", "redemption_reversal")))
        .group_by(Lot.issuer_id, JournalEntry.partner_id)
    ):
        spent[issuer, redeemer] += points
    unspent = dict(session.execute(select(Lot.issuer_id, func.sum(Lot.remaining)).group_by(Lot.issuer_id)).all())
    issuers = [p.id for p in partners] + ([None] if None in unspent else [])
    matrix = []
    for issuer in issuers:
        row = [spent[issuer, p.id] for p in partners]
        matrix.append([names.get(issuer, "network"), *row, sum(row), unspent.get(issuer, 0)])
    columns = list(zip(*[r[1:] for r in matrix])) if matrix else []
    matrix.append(["total", *(sum(c) for c in columns)])
    _table(["issued by \\ redeemed at", *(p.name for p in partners), "all redeemed", "still on cards"], matrix)
    cross = sum(points for (issuer, redeemer), points in spent.items() if issuer != redeemer)
    click.echo(f"  {cross:,} of {sum(spent.values()):,} redeemed points were spent at a partner other than the one that issued them:")
    click.echo("  that is what the partners settle between themselves.")

    click.echo()
    click.secho("Top balances (GET /v1/cards/<card>/balance)", bold=True)
    top = sorted(members, key=lambda m: (-m.available, m.index))[:5]
    _table(["card", "available", "member", "enrolled at"], [[m.card, m.available, m.name, PARTNERS[m.home].name] for m in top])

    if history.get("entries"):
        leader = top[0]
        click.echo()
        click.secho(f"What {leader.name} sees (GET /v1/members/<id>/history, newest first)", bold=True)
        _table(["when", "points", "entry"], [[_local(e["occurred_at"] or e["booked_at"]), e["points"], e["reason"]]
                                             for e in history["entries"]])

    click.echo()
    click.secho("Activity", bold=True)
    partial = tally.refunds - tally.full_refunds
    activity = [
        ["members", len(members), "enrolled at a partner's till (POST /v1/members)"],
        ["sales", tally.sales, "POST /v1/transactions, canonical JSON with line items, over the last 4 weeks"],
        ["refunds", tally.refunds, f"{tally.full_refunds} full, {partial} partial; points clawed back pro rata"],
        ["redemptions", tally.redemptions, "POST /v1/redemptions, at a partner other than the one that enrolled the member"],
        ["refused", tally.refused, "redemptions asking for more than the card holds: 422 insufficient_points, nothing booked"],
        ["replayed", 1, tally.replay],
        ["HTTP requests", tally.requests, f"in {elapsed:.1f} s"],
    ]
    if tally.uncollected:
        activity.insert(3, ["", "", f"{tally.uncollected:,} points of claw-back not collected: already spent (policy within_balance)"])
    if tally.skipped:
        activity.insert(-2, ["not attempted", tally.skipped, "redemptions skipped: no member held enough points yet"])
    _table(None, activity)
    for problem in tally.mismatched_balances:
        click.secho(f"  balance mismatch: {problem}", fg="red")

    click.echo()
    click.secho("Ledger invariants (as `coalition ledger check` runs them)", bold=True)
    results = check(session)
    for name, problems in results.items():
        if problems:
            click.secho(f"  FAIL  {name}", fg="red")
            for problem in problems[:5]:
                click.echo(f"        {problem}")
        else:
            click.secho(f"  ok    {name}", fg="green")
    return not any(results.values()) and not tally.mismatched_balances


def _next_steps(path: Path, keys: list[str], members: list[Member]) -> None:
    card = max(members, key=lambda m: (m.available, -m.index)).card
    url = f"sqlite:///{path}"
    click.echo()
    click.secho("Next steps", bold=True)
    click.echo("  Serve this demo database and call it as a till would (the keys are this demo's, shown once):")
    click.echo(f"    export DATABASE_URL={url}")
    click.echo("    export COALITION_ADMIN_TOKEN=pick-a-secret")
    click.echo("    make serve        # or: coalition serve --port 8000")
    click.echo(f"    curl -H 'Authorization: Bearer {keys[0]}' http://127.0.0.1:8000/v1/cards/{card}/balance")
    click.echo("    curl http://127.0.0.1:8000/v1/openapi.json")
    click.echo(f"  Audit the ledger again:  DATABASE_URL={url} coalition ledger check")
