"""What every scene shares: the hub's moved clock, the HTTP client, the jobs' database, and what was seen.

The hub reads the time from `app.config["CLOCK"]`, which the demo sets to a
`DemoClock` it moves, so days pass without sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from network.demo.catalogue import (
    CURRENCY,
    TIMEZONE,
    Product,
    cents_of,
    money,
    round_div,
)
from network.demo.client import Client, expect


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
class Showcase:
    """What the partner plugins did, in words, for the partners' part of the report."""

    welcome: dict[str, list[int]] = field(default_factory=dict)  # welcome bonuses paid at enrolment, by partner name
    referral: str = ""
    actions: str = ""
    shopify: list[str] = field(default_factory=list)
    csv: list[str] = field(default_factory=list)
    awarded: tuple[int, str] | None = None  # (member index, order id) of the canonical sale with the most awards
    most_awards: int = 0
    history: tuple[str, list[dict]] | None = None  # the top balance's member: name, whole history
    awarded_entry: dict | None = None  # that sale as the member's history shows it


@dataclass
class Tally:
    """What the tills were answered, counted as they were answered."""

    sales: int = 0
    refunds: int = 0
    full_refunds: int = 0
    redemptions: int = 0
    refused: int = 0
    skipped: int = 0
    uncollected: int = 0  # refund claw-backs the balance could no longer cover
    replay: str = ""
    mismatched_balances: list[str] = field(default_factory=list)


@dataclass
class Stage:
    """What the scenes share: the HTTP client, the clock, the database the jobs run on, and what they saw."""

    client: Client
    admin: str
    app: object  # the hub (a Flask app) whose clock is a DemoClock
    keys: dict[str, str] = field(default_factory=dict)  # partner slug -> API key
    rows: list[list[str]] = field(default_factory=list)  # the member-life scenes: (feature, day on the clock, what happened)
    tally: Tally = field(default_factory=Tally)
    showcase: Showcase = field(default_factory=Showcase)

    @property
    def clock(self) -> DemoClock:
        return self.config["CLOCK"]

    @property
    def config(self) -> Mapping:
        return self.app.config

    @property
    def db(self):
        """network.db.Database: its transact and read, as the `coalition` jobs use them."""
        return self.app.extensions["coalition"].db

    @property
    def rules(self) -> Mapping:
        """The earning-rule plugins the hub runs, by name."""
        return self.app.extensions["coalition"].rules

    def lifetime(self) -> timedelta:
        return timedelta(days=self.config["COALITION_POINTS_LIFETIME_DAYS"])

    def note(self, feature: str, text: str) -> None:
        self.rows.append([feature, day(self.clock()), text])

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
            total += quantity * product.cents if isinstance(quantity, int) else round_div(cents_of(quantity) * product.cents, 100)
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


def day(moment: datetime | str) -> str:
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return moment.astimezone(ZoneInfo(TIMEZONE)).strftime("%a %d %b %Y")



def local(timestamp: str) -> str:
    """A moment as a member reads it on a receipt, in the network's time zone."""
    return datetime.fromisoformat(timestamp).astimezone(ZoneInfo(TIMEZONE)).strftime("%a %d %b %Y %H:%M")
