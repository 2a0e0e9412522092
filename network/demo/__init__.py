"""`coalition demo`: a small coalition built through the real HTTP API, then summarised.

The demo starts the hub in this process on a free local port (werkzeug's
threaded server) and talks to it with `http.client` exactly as a till or the
operator would: bearer tokens, JSON bodies, an Idempotency-Key on every
write. Nothing is written to the database behind the API's back but by the
hub's own jobs, run as cron would run them (below); the database is
otherwise only read, for events from the outbox, the summary and the
invariant check.

Everything is drawn from `random.Random(seed)`, so one seed gives the same
baskets, refunds and redemptions (and so the same points) on every run; card
numbers and member ids are the hub's own and differ. The four weeks are whole
weeks, Monday to Sunday, so a sale falls on the same weekday (and earns the
same weekend bonus) whatever day the demo runs. Money is built from integer
cents and written as decimal strings; no float touches a price.

Besides the tills, the demo shows the partner plugins as a new partner meets
them (docs/plugins.md): earning rules per trade, welcome, referral and action
bonuses, a Shopify shop whose signed webhooks arrive at its inbound URL, and a
bookshop that sends its till's end-of-day CSV export.

And it follows two members over time (pending points and expiry; tiers, a
nudge, an adjustment and a hold) without sleeping: the hub reads the time
from `app.config["CLOCK"]`, which the demo sets to a `DemoClock` it moves.
The network opens a points lifetime, a return window and a week ago, so one
member's points go pending, become available, are warned of and expire
before today. Under `activity_extends` expiry all of a member's points
expire together, so this must happen before the four weeks' members are
active: the expiry job today then finds only that member's points due. The
four weeks of sales book today, as they always did, and the tier ladder is
set after them, so their figures earn no tier award. The expiry and
warning jobs run in this process as cron would run `coalition expire` and
`coalition events scan`; their events are read from the outbox (the
`events` table), as `coalition events deliver` reads them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import socket
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random
from urllib.parse import urlsplit
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
    rules: tuple[dict, ...]  # the partner's earning rules, as POST /v1/partners takes them
    weight: float  # how often a member shops there, relative to the others
    prefix: str  # of the till's receipt numbers
    hours: tuple[int, int]  # opening hours, local time
    products: tuple[Product, ...]
    basket: tuple[int, int]  # allowed total, in cents
    items: tuple[int, int]  # lines per basket


# Each trade's rules are what such a retailer would ask for (docs/plugins.md, "The built-in rules").
# Coffee: coffee counts double and weekends double again (extras add: 3x the base), capped per sale;
# a review earns points once a day.
BREW_BAR_RULES = (
    {"rule": "base_rate", "rate": "1"},
    {"rule": "category_multiplier", "category": "coffee", "multiplier": "2"},
    {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"},
    {"rule": "cap", "max_points": 30},
    {"rule": "action", "action": "review", "points": 20, "per_day": 1},
)
# A grocer: nothing under 10 EUR, a push on olive oil, and a member who brings a friend is thanked.
GREEN_GROCER_RULES = (
    {"rule": "minimum_spend", "amount": "10"},
    {"rule": "base_rate", "rate": "1"},
    {"rule": "sku_bonus", "sku": "OLIVE-OIL-1L", "points": 25},
    {"rule": "referral", "referrer_points": 100, "referred_points": 50},
)
# Fuel: thin margins, half a point per euro, and a welcome bonus to win the card into the wallet.
FUEL_STOP_RULES = (
    {"rule": "base_rate", "rate": "0.5"},
    {"rule": "welcome_bonus", "points": 50},
)

PARTNERS = (
    Trade(
        "brew-bar", "Brew Bar", "coffee chain", BREW_BAR_RULES, 0.45, "BB", (7, 19),
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
        "green-grocer", "Green Grocer", "grocer", GREEN_GROCER_RULES, 0.35, "GG", (8, 21),
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
        "fuel-stop", "Fuel Stop", "fuel station", FUEL_STOP_RULES, 0.20, "FS", (6, 22),
        (
            Product("SP95-E10", "fuel", 179, "l"),
            Product("DIESEL", "fuel", 169, "l"),
        ),
        (3000, 9000), (1, 1),
    ),
)

@dataclass(frozen=True)
class PluginPartner:
    """A partner that keeps its own format: the hub reads it through an adapter plugin, not the canonical JSON."""

    slug: str
    name: str
    trade: str
    adapter: str
    rules: tuple[dict, ...]


@dataclass(frozen=True)
class ShopProduct:
    sku: str
    product_type: str  # Shopify's product type: the hub reads it as the line's category
    title: str
    cents: int


# An online roaster on Shopify: its orders and refunds arrive as Shopify's own signed webhooks.
SHOP = PluginPartner("northside-roasters", "Northside Roasters", "online roaster", "shopify", (
    {"rule": "base_rate", "rate": "1"},
    {"rule": "category_multiplier", "category": "coffee", "multiplier": "2"},
))
SHOP_PRODUCTS = (
    ShopProduct("NR-ESPRESSO-1KG", "Coffee", "Espresso Blend - 1 kg", 2890),
    ShopProduct("NR-GUJI-250G", "Coffee", "Ethiopia Guji Filter - 250 g", 1150),
    ShopProduct("NR-COLDBREW-1L", "Coffee", "Cold Brew Concentrate - 1 L", 1800),
    ShopProduct("HARIO-V60-W", "Brewing gear", "Ceramic Pour-Over Dripper - White", 3250),
    ShopProduct("NR-MUG-ENAMEL", "Merch", "Enamel Mug", 1400),
)
SHOP_ORDERS = 4  # orders/create webhooks booked; one more is forged and refused
SHOP_ORDER_IDS = 5864920318200  # Shopify's order ids are large integers
SHIPPING, FREE_SHIPPING = 490, 4000  # cents: shipping earns no points (the hub reads the subtotal)

# A bookshop whose till writes an end-of-day CSV export; Saturdays are double points there.
BOOKSHOP = PluginPartner("page-and-plume", "Page & Plume", "bookshop", "csv", (
    {"rule": "base_rate", "rate": "1"},
    {"rule": "day_of_week", "days": ["sat"], "multiplier": "2"},
))
BOOK_PRICES = (690, 790, 890, 1050, 1290, 1590, 1890, 2200, 2450, 3500)
EXPORT_SALES = 34  # sales in the export; with one refund and one mistyped row, 36 rows
EXPORT_DAY = DAYS - 2  # the period's last Saturday: day 0 is a Monday

PLUGIN_PARTNERS = (SHOP, BOOKSHOP)
# A bike shop with a 14-day return window: its sales' points stay pending until the window has passed.
BIKE_SHOP = PluginPartner("cycle-works", "Cycle Works", "bike shop", "canonical", ({"rule": "base_rate", "rate": "1"},))
RETURN_DAYS = 14
DEMO_SLUGS = frozenset(t.slug for t in PARTNERS) | {p.slug for p in PLUGIN_PARTNERS} | {BIKE_SHOP.slug}


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


def cents_of(text: str) -> int:
    """A decimal string as the API writes money ("12.50") back to integer cents."""
    units, _, cents = text.partition(".")
    return int(units) * 100 + int(cents.ljust(2, "0"))


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
    available: int = 0  # as last told by the hub, plus what the demo knows the hub credited without saying
    bought: bool = False  # a first sale pays a pending referral
    referral: tuple[int, int, int] | None = None  # (referrer's index, referrer's points, own points), once promised


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
class Showcase:
    """What the partner plugins did, for the summary's "Partner plugins" section."""

    welcome: dict[str, list[int]] = field(default_factory=dict)  # welcome bonuses paid at enrolment, by partner name
    referral: str = ""
    actions: str = ""
    shopify: list[str] = field(default_factory=list)
    csv: list[str] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)  # the batch endpoint's two answers
    awarded: tuple[int, str] | None = None  # (member index, order id) of the canonical sale with the most awards
    awarded_entry: dict | None = None  # that sale as the member's history shows it
    life: list[list[str]] = field(default_factory=list)  # (feature, day on the hub's clock, what happened), in time order


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
    showcase: Showcase = field(default_factory=Showcase)


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
    return (bool(slugs) and slugs <= DEMO_SLUGS) or (not slugs and rows == 0)


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
    # The members' master key lives next to the demo database (by default both in the instance folder).
    clock = DemoClock()
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "COALITION_ADMIN_TOKEN": admin_token,
                      "COALITION_MASTER_KEY_FILE": str(path.parent / "master.key"), "CLOCK": clock})
    db = app.extensions["coalition"].db
    upgrade(db.engine)

    rng = Random(seed)
    members, events = plan(rng, member_count, sale_count)
    tally = Tally()

    click.echo(f"Coalition demo (seed {seed}): {len(PARTNERS)} partners at tills and {len(PLUGIN_PARTNERS)} through adapter "
               f"plugins, {member_count} members, {sale_count} sales; and two members' lives on a moved clock")
    try:
        with serving(app, tally) as client:
            click.echo(f"  database  {path}")
            click.echo(f"  hub       http://127.0.0.1:{client.connection.port}/v1 (in this process; every step below is an HTTP request)")
            click.echo()
            stage = Stage(client, admin_token, clock, db, app.config, tally.showcase.life)
            keys, history = _drive(stage, rng, members, events, tally, app.extensions["coalition"].rules)
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


@contextmanager
def serving(app, tally: Tally) -> Iterator[Client]:
    """The hub on a free local port in this process (werkzeug's threaded server), and a client connected to it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="coalition-demo-hub", daemon=True)
    thread.start()
    client = Client("127.0.0.1", server.server_port, tally)
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _drive(stage: Stage, rng: Random, members: list[Member], events: list, tally: Tally, registry: Mapping):
    """Every request of the demo, in order, under one progress bar."""
    from partners.earning import compile_rules

    client, admin = stage.client, stage.admin
    steps = len(PARTNERS) + len(PLUGIN_PARTNERS) + len(members) + len(events) + 1 + 3 + len(members) + 2 + 2
    phase = {"label": ""}
    showcase = tally.showcase
    with click.progressbar(length=steps, label="Building the network", show_pos=True,
                           item_show_func=lambda _: phase["label"]) as bar:

        def step(label: str) -> None:
            phase["label"] = label
            bar.update(1)

        keys = stage.open_network()
        for _ in PARTNERS:
            step("partners")
        secret = f"shpss_{secrets.token_hex(16)}"  # the shop's webhook signing secret, as Shopify's admin shows it
        plugin_partners = {}
        for partner in PLUGIN_PARTNERS:
            body = {"slug": partner.slug, "name": partner.name, "timezone": TIMEZONE, "currency": CURRENCY,
                    "adapter": partner.adapter, "adapter_config": {"webhook_secret": secret} if partner is SHOP else {},
                    "rules": list(partner.rules)}
            plugin_partners[partner.slug] = expect(client.call("POST", "/v1/partners", admin, body), 201, f"creating {partner.name}")
            step("partners")

        years_ago(stage)
        step("two years ago: pending points, expiry")

        referral = _referral_pair(members)
        for member in members:
            body = {"email": member.email, "name": member.name}
            referrer = referral[0] if referral and member is referral[1] else None
            if referrer:
                body["referred_by"] = referrer.card
            created = expect(client.call("POST", "/v1/members", keys[member.home], body), 201, f"enrolling {member.name}")
            member.member_id, member.card = created["member_id"], created["card_number"]
            _enrolled(member, created, referrer, showcase)
            step("members")

        # Four whole weeks, Monday to Sunday, ending last Sunday night: a seed's sales fall on the same weekdays every run.
        today = datetime.now(ZoneInfo(TIMEZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=today.weekday() + DAYS)

        def at(minute: int) -> str:
            """A moment of the period, local time; never past its end (a refund late on the last evening)."""
            return (start + timedelta(minutes=min(minute, DAYS * 1440 - 1))).isoformat(timespec="seconds")

        receipts = Counter()

        def receipt(partner: int) -> str:
            receipts[partner] += 1
            return f"{PARTNERS[partner].prefix}-{receipts[partner]:05d}"

        first_sale = None
        most_awards = 0
        for event in events:
            if isinstance(event, SaleEvent):
                member = members[event.member]
                event.order_id = receipt(event.partner)
                body = {"type": "sale", "order_id": event.order_id, "card_number": member.card, "occurred_at": at(event.minute),
                        "currency": CURRENCY, "total": money(event.total), "items": event.lines}
                answer = client.call("POST", "/v1/transactions", keys[event.partner], body)
                booked = expect(answer, 201, f"sale {event.order_id}")
                member.available = booked["balance"]["available"]
                if booked["points"]:
                    _bought(members, member)
                tally.sales += 1
                if first_sale is None:
                    first_sale = (event, body, answer)
                if len(booked["awards"]) > most_awards:
                    most_awards, showcase.awarded = len(booked["awards"]), (member.index, event.order_id)
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

        _actions(client, rng, members, keys, showcase)
        step("actions")
        inbound = urlsplit(plugin_partners[SHOP.slug]["inbound_url"]).path
        _shopify(client, rng, members, inbound, secret, at, showcase)
        step("Shopify webhooks")
        _csv_export(client, rng, members, plugin_partners[BOOKSHOP.slug]["api_key"], compile_rules(registry, BOOKSHOP.rules),
                    at, showcase)
        step("CSV export")

        for member in members:
            answer = client.call("GET", f"/v1/cards/{member.card}/balance", keys[member.home])
            available = expect(answer, 200, f"balance of {member.card}")["available"]
            if available != member.available:
                tally.mismatched_balances.append(f"{member.card}: hub says {available}, tills were told {member.available}")
            member.available = available
            step("reading balances back")

        if showcase.awarded:
            index, order_id = showcase.awarded
            showcase.awarded_entry = _history_entry(client, admin, members[index], order_id)
        step("history")
        top = max(members, key=lambda m: (m.available, -m.index))
        history = expect(client.call("GET", f"/v1/members/{top.member_id}/history?limit=4", admin), 200, "history")
        after_the_four_weeks(stage)
        step("tiers, nudges, holds")
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


# ---------------------------------------------------------------- the partner plugins, as a new partner meets them


def _referral_pair(members: list[Member]) -> tuple[Member, Member] | None:
    """The first member enrolled brings a friend: the next member enrolled at a partner with a referral rule."""
    referring = {i for i, trade in enumerate(PARTNERS) if any(rule["rule"] == "referral" for rule in trade.rules)}
    referred = next((m for m in members[1:] if m.home in referring), None)
    return (members[0], referred) if referred else None


def _enrolled(member: Member, created: dict, referrer: Member | None, showcase: Showcase) -> None:
    """Book what the enrolment answer says: a welcome bonus paid now, a referral promised for the first sale."""
    member.available = created.get("balance", {}).get("available", 0)
    if "welcome_bonus" in created:
        showcase.welcome.setdefault(PARTNERS[member.home].name, []).append(created["welcome_bonus"])
    promised = created.get("referral")
    if promised and referrer:
        member.referral = (referrer.index, promised["referrer_points"], promised["referred_points"])
        showcase.referral = (f"{member.name} enrolled at {PARTNERS[member.home].name} with referred_by {referrer.name}'s card: "
                             f"+{promised['referrer_points']} to {referrer.name} and +{promised['referred_points']} to "
                             f"{member.name} after {member.name}'s first sale")


def _bought(members: list[Member], member: Member) -> None:
    """A member's first sale that earns points, anywhere, pays their pending referral to both members.

    The sale's answer already shows the buyer's share in its balance; the
    referrer's share the demo adds itself, and reading the balances back
    checks that the hub paid exactly that.
    """
    if member.bought:
        return
    member.bought = True
    if member.referral:
        referrer, to_referrer, _ = member.referral
        members[referrer].available += to_referrer


def _actions(client: Client, rng: Random, members: list[Member], keys: list[str], showcase: Showcase) -> None:
    """Reviews rewarded by an `action` rule (POST /v1/actions); the rule allows one a day, so a second is refused."""
    partner = next(i for i, trade in enumerate(PARTNERS) if any(rule["rule"] == "action" for rule in trade.rules))
    terms = next(rule for rule in PARTNERS[partner].rules if rule["rule"] == "action")
    reviewers = rng.sample(members, min(2, len(members)))
    references = iter(range(1, 100))

    def review(member: Member) -> Answer:
        body = {"card_number": member.card, "action": terms["action"],
                "reference": f"{PARTNERS[partner].prefix}-RV-{next(references):04d}"}
        return client.call("POST", "/v1/actions", keys[partner], body)

    for member in reviewers:
        member.available = expect(review(member), 201, f"{terms['action']} by {member.name}")["balance"]["available"]
    again = review(reviewers[0])
    if again.status != 422 or again.body.get("error", {}).get("code") != "action_limit_reached":
        raise DemoError(f"a second {terms['action']} the same day: expected 422 action_limit_reached, got {again.status}: {again.text[:300]}")
    showcase.actions = (f"POST /v1/actions at {PARTNERS[partner].name}: {len(reviewers)} {terms['action']}s, "
                        f"+{terms['points']} each (201); a second one by {reviewers[0].name} the same day: "
                        f"422 action_limit_reached, nothing booked")


def _shopify_headers(body: bytes, topic: str, secret: str) -> dict:
    """What Shopify sends with a webhook: its topic and the body's HMAC-SHA256 under the shop's secret, in base64."""
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": f"{SHOP.slug}.myshopify.com"}


def _shop_order(rng: Random, number: int, card: str, created_at: str) -> dict:
    """An orders/create body in Shopify's shape (tests/fixtures/shopify/orders_create.json, trimmed).

    The member's card is the cart attribute `loyalty_card`, which Shopify
    copies into `note_attributes`. Prices include VAT, as in a European shop;
    shipping is charged on top and earns nothing.
    """
    lines, subtotal = [], 0
    for n, product in enumerate(rng.sample(SHOP_PRODUCTS, rng.randint(1, 3))):
        quantity = rng.choices((1, 2), weights=(3, 1))[0]
        subtotal += quantity * product.cents
        lines.append({"id": (SHOP_ORDER_IDS + number) * 10 + n, "sku": product.sku, "title": product.title,
                      "product_type": product.product_type, "quantity": quantity, "price": money(product.cents),
                      "total_discount": "0.00", "taxable": True, "gift_card": False})
    shipping = 0 if subtotal >= FREE_SHIPPING else SHIPPING
    shop_money = lambda cents: {"shop_money": {"amount": money(cents), "currency_code": CURRENCY}}  # noqa: E731
    return {
        "id": SHOP_ORDER_IDS + number, "name": f"#{1000 + number}", "order_number": 1000 + number,
        "created_at": created_at, "processed_at": created_at, "currency": CURRENCY, "presentment_currency": CURRENCY,
        "financial_status": "paid", "cancelled_at": None, "taxes_included": True, "test": False,
        "total_line_items_price": money(subtotal), "total_discounts": "0.00", "subtotal_price": money(subtotal),
        "subtotal_price_set": shop_money(subtotal), "total_shipping_price_set": shop_money(shipping),
        "total_price": money(subtotal + shipping), "total_price_set": shop_money(subtotal + shipping),
        "note_attributes": [{"name": "gift_wrap", "value": "no"}, {"name": "loyalty_card", "value": card}],
        "line_items": lines,
    }


def _shop_refund(order: dict, line: dict, created_at: str) -> dict:
    """A refunds/create body for one unit of one line (Shopify writes `subtotal` as a JSON number; exact text here)."""
    amount = {"amount": line["price"], "currency_code": CURRENCY}
    return {
        "id": order["id"] * 10 + 1, "order_id": order["id"], "created_at": created_at, "processed_at": created_at,
        "note": "Arrived damaged", "restock": True, "order_adjustments": [],
        "refund_line_items": [{"id": line["id"] * 10 + 1, "line_item_id": line["id"], "quantity": 1, "restock_type": "return",
                               "subtotal": line["price"], "subtotal_set": {"shop_money": amount, "presentment_money": amount},
                               "line_item": line}],
        "transactions": [{"kind": "refund", "status": "success", "gateway": "shopify_payments", "amount": line["price"],
                          "currency": CURRENCY}],
    }


def _shopify(client: Client, rng: Random, members: list[Member], inbound: str, secret: str, at, showcase: Showcase) -> None:
    """Northside Roasters' webhooks as Shopify delivers them: signed, to the inbound URL, with no API key.

    One is delivered twice (Shopify retries anything but a 2xx), one was
    altered after signing, and one order is partly refunded.
    """
    placed, points = [], 0
    for number in range(1, SHOP_ORDERS + 1):
        member = rng.choice(members)
        minute = (DAYS - 3) * 1440 + rng.randrange(3 * 1440 - 600)
        order = _shop_order(rng, number, member.card, at(minute))
        body = json.dumps(order).encode()
        booked = expect(client.send("POST", inbound, _shopify_headers(body, "orders/create", secret), body), 201,
                        f"Shopify order {order['name']}")
        member.available = booked["balance"]["available"]
        _bought(members, member)
        points += booked["points"]
        placed.append((order, body, member, minute))
    showcase.shopify.append(f"{SHOP_ORDERS} orders/create webhooks, signed (X-Shopify-Hmac-Sha256), to {inbound}: "
                            f"201, {points:+,} points on their subtotals")

    order, body, member, _ = placed[0]
    again = expect(client.send("POST", inbound, _shopify_headers(body, "orders/create", secret), body), 200,
                   f"Shopify order {order['name']} delivered again")
    if again != {"duplicate": True, "order_id": str(order["id"])}:
        raise DemoError(f"a resent Shopify order was answered {again}")
    showcase.shopify.append(f"order {order['name']} delivered again, as Shopify retries: 200 {json.dumps(again)}, nothing booked")

    forged = _shop_order(rng, SHOP_ORDERS + 1, member.card, order["created_at"])
    signature = _shopify_headers(json.dumps(forged).encode(), "orders/create", secret)
    was, forged["subtotal_price"] = forged["subtotal_price"], money(cents_of(forged["subtotal_price"]) * 10)
    refused = client.send("POST", inbound, signature, json.dumps(forged).encode())
    if refused.status != 401 or refused.body.get("error", {}).get("code") != "bad_signature":
        raise DemoError(f"an altered Shopify webhook: expected 401 bad_signature, got {refused.status}: {refused.text[:300]}")
    showcase.shopify.append(f"order {forged['name']} altered after signing (subtotal {was} -> {forged['subtotal_price']}): "
                            f"401 bad_signature, nothing booked")

    order, _, member, minute = placed[1]
    line = order["line_items"][0]
    refund = json.dumps(_shop_refund(order, line, at(minute + 540))).encode()
    refunded = expect(client.send("POST", inbound, _shopify_headers(refund, "refunds/create", secret), refund), 201,
                      f"Shopify refund of order {order['name']}")
    member.available = refunded["balance"]["available"]
    showcase.shopify.append(f"refunds/create for one {line['title']} ({line['price']} {CURRENCY}) of order {order['name']}: "
                            f"201, {refunded['points']:+,} points")


def _bookshop_day(rng: Random, members: list[Member], at) -> tuple[list[list[str]], list[tuple[Member, object]], int]:
    """Page & Plume's till export of the period's last Saturday, in the csv adapter's default columns.

    Sales in time order, one mistyped by hand (a letter O for a zero in its
    total), and one book of a two-book sale brought back before closing.
    Returns the rows, each good row's member and canonical transaction, and
    the mistyped row's number as the hub counts rows (1 is the first after the header).
    """
    from partners.money import Money
    from partners.transactions import Refund, Sale

    day = EXPORT_DAY * 1440
    date = at(day)[:10].replace("-", "")
    rows, booked, baskets = [], [], []
    for n, minute in enumerate(sorted(rng.randrange(day + 570, day + 1140) for _ in range(EXPORT_SALES)), 1):
        member = rng.choice(members)
        books = [rng.choice(BOOK_PRICES) for _ in range(rng.choices((1, 2, 3), weights=(6, 3, 1))[0])]
        order_id, when = f"PP-{date}-{n:04d}", at(minute)
        rows.append([order_id, "sale", member.card, when, CURRENCY, money(sum(books)), ""])
        booked.append((member, Sale(order_id, member.card, datetime.fromisoformat(when), Money(sum(books), CURRENCY))))
        baskets.append(books)
    bad = len(rows) // 2
    rows.insert(bad, [f"PP-{date}-M001", "sale", rows[bad][2], rows[bad][3], CURRENCY, "1O.90", ""])
    returned = next((i for i, books in enumerate(baskets) if len(books) > 1), 0)
    (member, sale), back = booked[returned], baskets[returned][-1]
    when = at(day + 1150)
    rows.append([f"PP-{date}-R001", "refund", member.card, when, CURRENCY, money(back), sale.order_id])
    booked.append((member, Refund(f"PP-{date}-R001", sale.order_id, datetime.fromisoformat(when), Money(back, CURRENCY),
                                  member.card)))
    return rows, booked, bad + 1


def _expected_points(ruleset, booked: list[tuple[Member, object]]) -> dict[int, int]:
    """What each member should gain from the export, priced by the hub's own rule engine (partners.earning).

    The batch answer only counts rows, so the demo prices them itself with
    the same plugins the hub runs: each sale's awards, and for the refund each
    award's share, floored rule by rule, exactly as the hub claws back.
    """
    from partners.earning import awards_for_sale, clawback_awards
    from partners.transactions import Sale

    earned, change = {}, defaultdict(int)
    for member, transaction in booked:
        if isinstance(transaction, Sale):
            earned[transaction.order_id] = (transaction, awards_for_sale(ruleset, transaction, TIMEZONE))
            change[member.index] += sum(award.points for award in earned[transaction.order_id][1])
        else:
            sale, awards = earned[transaction.original_order_id]
            back = clawback_awards(awards, sale.total.minor, 0, transaction.total.minor)
            change[member.index] -= sum(award.points for award in back)
    return change


def _csv_export(client: Client, rng: Random, members: list[Member], key: str, ruleset, at, showcase: Showcase) -> None:
    """The bookshop sends its end-of-day export to POST /v1/transactions/batch, then (by mistake) sends it again."""
    from partners.transactions import Sale

    rows, booked, bad_row = _bookshop_day(rng, members, at)
    header = ["order_id", "type", "card_number", "occurred_at", "currency", "total", "original_order_id"]
    body = "\r\n".join(",".join(row) for row in [header, *rows]).encode() + b"\r\n"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv", "Accept": "application/json"}
    good = len(booked)
    day = _local(rows[0][3])[:10]
    for attempt, (accepted, duplicates) in enumerate(((good, 0), (0, good))):
        answer = expect(client.send("POST", "/v1/transactions/batch", headers, body), 200, "the bookshop's export")
        showcase.batches.append(answer)
        rejected = [(r["row"], r["code"]) for r in answer["rejected"]]
        if (answer["accepted"], answer["duplicates"], rejected) != (accepted, duplicates, [(bad_row, "invalid_row")]):
            raise DemoError(f"the bookshop's export (attempt {attempt + 1}): expected {accepted} accepted, {duplicates} "
                            f"duplicates and row {bad_row} rejected; got {json.dumps(answer)[:500]}")
    change = _expected_points(ruleset, booked)
    for index, points in change.items():
        members[index].available += points
    for member, transaction in booked:
        if isinstance(transaction, Sale):
            _bought(members, member)
    first, again = showcase.batches
    errors = "; ".join(f"{field} {', '.join(messages)}" for field, messages in first["rejected"][0]["errors"].items())
    counts = lambda answer: json.dumps({k: answer[k] for k in ("accepted", "duplicates", "rejected_total")})  # noqa: E731
    showcase.csv = [
        f"end-of-day export of {day}: {len(rows)} rows ({EXPORT_SALES} sales, 1 refund, 1 mistyped) as text/csv "
        f"to POST /v1/transactions/batch",
        f"answer {counts(first)}: row {bad_row} {first['rejected'][0]['code']} ({errors})",
        f"the same file sent again: {counts(again)}, nothing booked twice",
        f"{sum(change.values()):+,} points, as the demo priced the rows with the hub's own rule engine (balances checked below)",
    ]


def _history_entry(client: Client, admin: str, member: Member, order_id: str) -> dict | None:
    """A sale as the member's history shows it, paging back (newest first) until it turns up."""
    before = None
    while True:
        path = f"/v1/members/{member.member_id}/history?limit=200" + (f"&before={before}" if before else "")
        page = expect(client.call("GET", path, admin), 200, f"history of {member.name}")
        for entry in page["entries"]:
            if entry["order_id"] == order_id and entry["kind"] == "earn":
                return entry
        before = page["next_before"]
        if before is None:
            return None


# ---------------------------------------------------------------- a member's life over time, on the demo's clock

BIKE_PRODUCTS = (Product("HELMET-MIPS", "safety", 8990), Product("LIGHT-SET-USB", "lights", 6000))
EXPIRED_DAYS_AGO = 7  # the first member's points, alive a lifetime after their last redemption, expired a week ago
FIRST_SPEND = 100  # points that member spends once the return window is over
WARNED_DAYS_AHEAD = 20  # `coalition events scan` runs this many days before they expire (within the warning window)
# One ladder for the whole network, set after the four weeks so that their sales (the figures above) earn no tier award.
TIERS = (
    {"name": "Blue", "threshold": 0, "multiplier": "1"},
    {"name": "Silver", "threshold": 500, "multiplier": "1.25"},
    {"name": "Gold", "threshold": 2000, "multiplier": "1.5"},
)
CAR_WASH = {"sku": "CAR-WASH", "name": "Premium car wash", "points": 700}  # Fuel Stop's reward, the nudge's target
GOODWILL = {"points": 40, "reason": "goodwill: the car wash was out of order"}
PUMP_HOLD, PUMP_CAPTURE = 300, 245  # points held before a fill-up, and captured for what went into the tank


class DemoClock:
    """The hub's clock (app.config["CLOCK"]): real time plus an offset the demo moves, so days pass without sleeping.

    Every request and every job reads it, so a return window, a points
    lifetime and a hold's expiry all see the same moved time. At offset
    zero it is the real clock, so the four weeks of sales book as they
    always did.
    """

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def set(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(timezone.utc)

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def back_to_today(self) -> None:
        self.offset = timedelta(0)


@dataclass
class Stage:
    """What the member-life scenes share: the HTTP client, the clock, the database the jobs run on, and the rows printed."""

    client: Client
    admin: str
    clock: DemoClock
    db: object  # network.db.Database: its transact and read, as the `coalition` jobs use them
    config: Mapping
    rows: list[list[str]]
    keys: dict[str, str] = field(default_factory=dict)  # partner slug -> API key

    def lifetime(self) -> timedelta:
        return timedelta(days=self.config["COALITION_POINTS_LIFETIME_DAYS"])

    def open_network(self) -> list[str]:
        """Open the tills' partners a lifetime, a return window and a week ago; their API keys, in PARTNERS order.

        Long enough ago for the first member's points to have expired by today.
        """
        self.clock.set(datetime.now(timezone.utc) - self.lifetime() - timedelta(days=RETURN_DAYS + EXPIRED_DAYS_AGO))
        for trade in PARTNERS:
            body = {"slug": trade.slug, "name": trade.name, "timezone": TIMEZONE, "currency": CURRENCY,
                    "adapter": "canonical", "rules": list(trade.rules)}
            answer = expect(self.client.call("POST", "/v1/partners", self.admin, body), 201, f"creating {trade.name}")
            self.keys[trade.slug] = answer["api_key"]
        return [self.keys[trade.slug] for trade in PARTNERS]

    def note(self, feature: str, text: str) -> None:
        self.rows.append([feature, _day(self.clock()), text])

    def enrol(self, key: str, name: str) -> tuple[str, str]:
        """A member enrolled at a partner's till; returns (card number, member id)."""
        body = {"email": f"{name.lower().replace(' ', '.')}@example.com", "name": name}
        created = expect(self.client.call("POST", "/v1/members", key, body), 201, f"enrolling {name}")
        return created["card_number"], created["member_id"]

    def sale(self, key: str, order_id: str, card: str, lines: list[tuple[Product, int | str]]) -> dict:
        """A canonical sale rung up now (on the hub's clock); the answer, with the basket's `total` added."""
        items, total = [], 0
        for product, quantity in lines:
            items.append({"sku": product.sku, "category": product.category, "quantity": quantity,
                          "unit_price": money(product.cents)})
            total += quantity * product.cents if isinstance(quantity, int) else _round_div(cents_of(quantity) * product.cents, 100)
        body = {"type": "sale", "order_id": order_id, "card_number": card, "currency": CURRENCY, "total": money(total),
                "occurred_at": self.clock().astimezone(ZoneInfo(TIMEZONE)).isoformat(timespec="seconds"), "items": items}
        return {**expect(self.client.call("POST", "/v1/transactions", key, body), 201, f"sale {order_id}"), "total": money(total)}

    def balance(self, card: str) -> dict:
        return expect(self.client.call("GET", f"/v1/cards/{card}/balance", self.admin), 200, f"balance of {card}")

    def outbox(self, kind: str, member_id: str) -> list[dict]:
        """The member's events of one kind, oldest first, as `coalition events deliver` would read them."""
        from network.models import Event

        return self.db.read(lambda session: [json.loads(data) for data in session.scalars(
            select(Event.data).where(Event.kind == kind, Event.member_id == member_id).order_by(Event.id))])


def _product(slug: str, sku: str) -> Product:
    return next(p for t in PARTNERS if t.slug == slug for p in t.products if p.sku == sku)


def _day(moment: datetime | str) -> str:
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return moment.astimezone(ZoneInfo(TIMEZONE)).strftime("%a %d %b %Y")


def years_ago(stage: Stage) -> None:
    """Pending points and expiry need time to pass: a member of the network's first days, followed to today.

    Runs before the four weeks' members enrol, so the expiry job today finds
    only this member's points due (every other member's activity is today).
    """
    card, member_id, expires = _pending_points(stage)
    _expiry_warning(stage, member_id, expires)
    stage.clock.back_to_today()
    _expiry_job(stage, card)


def _pending_points(stage: Stage) -> tuple[str, str, datetime]:
    """A bike shop with a return window: its sale's points are pending, then available once the window has passed.

    No job runs when the window ends: the balance read alone counts them as
    available. She then spends some, which books the release (pending to
    available) in the ledger: the expiry job and the warning scan find
    members by their booked available balance, so points only ever read as
    available, never moved, would escape both. Returns the member's card, id
    and when the rest expire.
    """
    body = {"slug": BIKE_SHOP.slug, "name": BIKE_SHOP.name, "timezone": TIMEZONE, "currency": CURRENCY,
            "adapter": BIKE_SHOP.adapter, "rules": list(BIKE_SHOP.rules), "pending_days": RETURN_DAYS}
    key = stage.keys[BIKE_SHOP.slug] = expect(stage.client.call("POST", "/v1/partners", stage.admin, body), 201,
                                             f"creating {BIKE_SHOP.name}")["api_key"]
    card, member_id = stage.enrol(key, "Noor Haddad")
    booked = stage.sale(key, "CW-00001", card, [(product, 1) for product in BIKE_PRODUCTS])
    stage.note("pending", f"{BIKE_SHOP.name} ({BIKE_SHOP.trade}) joins with \"pending_days\": {RETURN_DAYS}; Noor Haddad buys "
                          f"a helmet and lights, {booked['total']} {CURRENCY}: {booked['points']:+} points, "
                          f"{_balance_text(booked['balance'])}")
    stage.clock.advance(timedelta(days=RETURN_DAYS))
    balance = stage.balance(card)
    stage.note("", f"{RETURN_DAYS} days later, the return window over, GET /v1/cards/<card>/balance alone shows "
                   f"{_balance_text(balance)}")
    body = {"card_number": card, "points": FIRST_SPEND, "order_id": "BB-L0001"}
    spent = expect(stage.client.call("POST", "/v1/redemptions", stage.keys["brew-bar"], body), 201, "Noor Haddad's redemption")
    expiring = stage.balance(card)["expiring"]
    stage.note("", f"she spends {spent['points']} at Brew Bar (POST /v1/redemptions): {_balance_text(spent['balance'])}")
    after = "the last earn or redemption" if stage.config["COALITION_EXPIRY"] == "activity_extends" else "earning them"
    stage.note("expiry", f"the balance's expiring: {expiring['points']} points on {_day(expiring['at'])} "
                         f"({stage.config['COALITION_EXPIRY']}: lifetime {stage.lifetime().days} days after {after})")
    return card, member_id, datetime.fromisoformat(expiring["at"])


def _expiry_warning(stage: Stage, member_id: str, expires: datetime) -> None:
    """A few weeks before the points expire, the warning job (`coalition events scan`) tells the enrolling partner."""
    from network.events import outbox
    from network.lifecycle import scans

    warning = timedelta(days=stage.config["COALITION_EXPIRY_WARNING_DAYS"])
    as_of = expires - min(timedelta(days=WARNED_DAYS_AHEAD), warning)
    stage.clock.set(as_of)
    done = scans.Scan()
    for done in scans.scan(stage.db.transact, as_of, scans.Settings.from_config(stage.config), now=stage.clock()):
        pass
    told = ", ".join(f"{e['points']} points expire in {e['days_left']} days" for e in stage.outbox(outbox.POINTS_EXPIRING, member_id))
    stage.note("", f"coalition events scan: {done.expiring} points_expiring, {done.dormant} dormant_member; "
                   f"outbox points_expiring to {BIKE_SHOP.name}: {told or 'none'}")


def _expiry_job(stage: Stage, card: str) -> None:
    """Today, past the lifetime: the expiry job (as cron runs `coalition expire`) takes the points; run again, nothing."""
    from network.lifecycle import expiry

    policy, runs = expiry.Policy.from_config(stage.config), []
    for _ in range(2):
        now, run = stage.clock(), expiry.Run()
        for run in expiry.expire(stage.db.transact, stage.db.read, now, policy, clock=stage.clock):
            pass
        runs.append(run)
    first, again = runs
    stage.note("", f"today, coalition expire: {first.points} points of {first.members} member{'s' * (first.members != 1)} "
                   f"expired (to breakage); "
                   f"run again: {again.points} points; {_balance_text(stage.balance(card))}")


def _balance_text(balance: dict) -> str:
    return f"available {balance['available']:,}, pending {balance['pending']:,}"


def after_the_four_weeks(stage: Stage) -> None:
    """Today, after the four weeks: a tier ladder and a member who climbs it, a nudge, an adjustment and a hold."""
    card, member_id = _tiers(stage)
    _nudge(stage, card, member_id)
    _adjustment_and_hold(stage, card, member_id)


def _tiers(stage: Stage) -> tuple[str, str]:
    """The operator sets the ladder; a big order crosses into Silver, and the next sale earns a `tier` award on top.

    The crossing sale earns at the old tier, the next at the new one; the tier
    award is its own award, funded (like the rest of the sale) by the partner
    where the sale was made. Returns the member's card and id.
    """
    ladder = expect(stage.client.call("PUT", "/v1/network/tiers", stage.admin, {"tiers": list(TIERS)}), 200, "the tier ladder")
    stage.note("tiers", "PUT /v1/network/tiers: " + ", ".join(f"{t['name']} from {t['threshold']:,} x{t['multiplier']}"
                                                             for t in ladder["tiers"]))
    grocer = stage.keys["green-grocer"]
    card, member_id = stage.enrol(grocer, "Theo Blanc")
    booked = stage.sale(grocer, "GG-L0001", card, [(_product("green-grocer", "WINE-BORDEAUX"), 40)])
    stage.note("", f"Theo Blanc's party order at Green Grocer, {booked['total']} {CURRENCY}: {booked['points']:+} points "
                   f"(earned at his tier then, Blue); "
                   f"{_tier_text(stage.balance(card))}")
    booked = stage.sale(grocer, "GG-L0002", card, [(_product("green-grocer", "COFFEE-1KG"), 2),
                                                   (_product("green-grocer", "WINE-BORDEAUX"), 4)])
    awards = ", ".join(f"{a['rule']} {a['points']:+d} ({a['detail']})" for a in booked["awards"])
    stage.note("", f"his next sale, {booked['total']} {CURRENCY}: {booked['points']:+} points: {awards}, paid by Green Grocer; "
                   f"{_tier_text(stage.balance(card))}")
    return card, member_id


def _tier_text(balance: dict) -> str:
    return (f"balance: tier {balance['tier']}, qualifying_points {balance['qualifying_points']:,}, "
            f"{balance['points_to_next_tier']:,} points to {balance['next_tier']}")


def _nudge(stage: Stage, card: str, member_id: str) -> None:
    """A partner adds a reward; a sale brings the member within COALITION_NUDGE_GAP_POINTS of it.

    The sale's own transaction writes `reward_within_reach` to the outbox,
    for the partner offering the reward to pass on.
    """
    from network.events import outbox

    fuel = stage.keys["fuel-stop"]
    expect(stage.client.call("POST", "/v1/partners/fuel-stop/rewards", fuel, CAR_WASH), 201, "Fuel Stop's reward")
    stage.note("nudge", f"Fuel Stop adds {CAR_WASH['name']} ({CAR_WASH['sku']}, {CAR_WASH['points']} points) to its catalogue "
                        f"(POST /v1/partners/fuel-stop/rewards)")
    booked = stage.sale(fuel, "FS-L0001", card, [(_product("fuel-stop", "DIESEL"), "40.00")])
    told = [e["message"] for e in stage.outbox(outbox.REWARD_WITHIN_REACH, member_id)]
    stage.note("", f"Theo Blanc fills up, {booked['total']} {CURRENCY}: {booked['points']:+} points, "
                   f"{booked['balance']['available']:,} available; outbox reward_within_reach: "
                   + (f'"{told[-1]}"' if told else "none"))


def _adjustment_and_hold(stage: Stage, card: str, member_id: str) -> None:
    """The operator's goodwill points (funded by the network, not a partner), then a pay-at-the-pump hold.

    The pump holds points before the fill-up and captures only what went
    into the tank; the rest goes back to the member at once.
    """
    path = f"/v1/members/{member_id}/adjustments"
    adjusted = expect(stage.client.call("POST", path, stage.admin, GOODWILL), 201, "the goodwill adjustment")
    stage.note("adjustment", f"POST /v1/members/<id>/adjustments {adjusted['points']:+} \"{adjusted['reason']}\", funded by "
                             f"the network: {adjusted['balance']['available']:,} available")
    fuel = stage.keys["fuel-stop"]
    body = {"card_number": card, "points": PUMP_HOLD, "order_id": "FS-L0002", "capture": False}
    held = expect(stage.client.call("POST", "/v1/redemptions", fuel, body), 201, "the pump's hold")
    stage.note("hold", f"Fuel Stop's pump holds {held['points']} points (\"capture\": false): {held['status']}, "
                       f"{held['balance']['available']:,} available, {held['balance']['held']:,} held")
    path = f"/v1/redemptions/{held['redemption_id']}/capture"
    captured = expect(stage.client.call("POST", path, fuel, {"points": PUMP_CAPTURE}), 201, "the pump's capture")
    stage.note("", f"after the fill-up it captures {captured['points']}: {captured['status']}, {captured['released']} released, "
                   f"{captured['balance']['available']:,} available, {captured['balance']['held']:,} held")


def _member_life_section(showcase: Showcase) -> None:
    """What the member-life scenes did, in the order the hub's clock saw them."""
    if not showcase.life:
        return
    click.echo()
    click.secho("Member life (tiers, pending points, expiry, nudges; the demo moves the hub's clock, nothing sleeps)", bold=True)
    _table(None, showcase.life)



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


def _rule_text(rule: dict) -> str:
    """One rule in a few words; a rule this demo does not know (a third party's) shows its name and parameters."""
    params = {key: value for key, value in rule.items() if key != "rule"}
    words = {
        "base_rate": lambda p: f"{p['rate']} pt/{CURRENCY}",
        "category_multiplier": lambda p: f"{p['category']} x{p['multiplier']}",
        "day_of_week": lambda p: f"{'+'.join(p['days'])} x{p['multiplier']}",
        "sku_bonus": lambda p: f"{p['sku']} +{p['points']}",
        "minimum_spend": lambda p: f"from {p['amount']} {CURRENCY}",
        "cap": lambda p: f"{p['max_points']} pts/sale",
        "welcome_bonus": lambda p: f"+{p['points']}",
        "referral": lambda p: f"+{p['referrer_points']} referrer / +{p['referred_points']} referred",
        "action": lambda p: f"{p['action']} +{p['points']} ({p['per_day']}/day)",
    }.get(rule["rule"])
    return f"{rule['rule']} {words(params) if words else json.dumps(params)}"


def _plugins_section(partners: list, members: list[Member], showcase: Showcase) -> None:
    """Each partner's adapter and rules as the ledger holds them, and what the plugins did in this run."""
    click.echo()
    click.secho("Partner plugins (adapters read each partner's own format; earning rules price each sale: docs/plugins.md)", bold=True)
    _table(["partner", "adapter", "earning rules"], [[p.name, p.adapter, ", ".join(_rule_text(r) for r in p.rules)] for p in partners])
    rows = []
    for partner, bonuses in showcase.welcome.items():
        rows.append(["welcome_bonus", f"{len(bonuses)} members enrolled at {partner}'s till (POST /v1/members): "
                                      f"{sum(bonuses):+,} points at once"])
    if showcase.referral:
        referred = next(m for m in members if m.referral)
        rows.append(["referral", f"{showcase.referral}: {'paid' if referred.bought else 'not paid yet, no sale since'}"])
    rows.append(["action", showcase.actions])
    rows += [["shopify" if n == 0 else "", line] for n, line in enumerate(showcase.shopify)]
    rows += [["csv" if n == 0 else "", line] for n, line in enumerate(showcase.csv)]
    entry = showcase.awarded_entry
    if entry:
        member = members[showcase.awarded[0]]
        rows.append(["awards", f"{member.name}'s history (GET /v1/members/<id>/history), sale {entry['order_id']} of "
                               f"{_local(entry['occurred_at'] or entry['booked_at'])}: {entry['points']} points"])
        rows.append(["", ", ".join(f"{a['rule']} {a['points']:+d} ({a['detail']})" for a in entry["awards"])])
    _table(None, rows)


def _summary(session, members: list[Member], tally: Tally, history: dict, elapsed: float) -> bool:
    from network.ledger.invariants import check
    from network.ledger.journal import ISSUANCE, REDEMPTION
    from network.models import Account, JournalEntry, Lot, LotMovement, Order, Partner, Posting

    partners = session.execute(
        select(Partner.id, Partner.slug, Partner.name, Partner.adapter, Partner.rules).order_by(Partner.id)
    ).all()
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
    click.echo("  (earned on sales and bonuses, clawed back by refunds; issued = earned - clawed back; "
               "redeemed = spent at that partner's tills)")
    rows = []
    trade_of = {t.slug: t.trade for t in (*PARTNERS, *PLUGIN_PARTNERS, BIKE_SHOP)}
    for p in partners:
        earned = amount(postings, (p.id, ISSUANCE), "debits")
        clawed = amount(postings, (p.id, ISSUANCE), "credits")
        redeemed = amount(postings, (p.id, REDEMPTION), "credits") - amount(postings, (p.id, REDEMPTION), "debits")
        rows.append([
            p.name, trade_of.get(p.slug, ""), _rates(p.rules),
            amount(orders, (p.id, "sale"), "n"), euros(amount(orders, (p.id, "sale"), "minor")),
            amount(orders, (p.id, "refund"), "n"), earned, clawed, earned - clawed, redeemed,
        ])
    total = ["total", "", "", *(sum(r[i] for r in rows) for i in (3,)), euros(sum(amount(orders, (p.id, "sale"), "minor") for p in partners)),
             *(sum(r[i] for r in rows) for i in (5, 6, 7, 8, 9))]
    _table(["partner", "trade", "base rate", "sales", "takings EUR", "refunds", "earned", "clawed back", "issued", "redeemed"],
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
        click.secho(f"What {leader.name} sees (GET /v1/members/<id>/history, newest booked first)", bold=True)
        _table(["when", "points", "entry"], [[_local(e["occurred_at"] or e["booked_at"]), e["points"], e["reason"]]
                                             for e in history["entries"]])

    _plugins_section(partners, members, tally.showcase)
    _member_life_section(tally.showcase)

    click.echo()
    click.secho("Activity", bold=True)
    partial = tally.refunds - tally.full_refunds
    activity = [
        ["members", len(members), "enrolled at a partner's till (POST /v1/members)"],
        ["sales", tally.sales, "POST /v1/transactions, canonical JSON with line items, over the four weeks before this one"],
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
