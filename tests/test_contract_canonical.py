"""The canonical adapter held to the hub's own documented JSON: the README tour's sale and refund (tests/fixtures/canonical).

The hub's format is the one a till written against the API sends; its
documented examples are read exactly, booked as the tour books them, and
mutated at random: nothing but the adapter's two refusals ever comes out.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from partners.adapters import Payload
from partners.money import Money
from partners.transactions import LineItem, Refund, Sale
from plugins.canonical import CanonicalAdapter
from tests.support.fuzz import FUZZ, json_values, mutate_json, parse_or_refuse

FIXTURES = Path(__file__).parent / "fixtures" / "canonical"
ADAPTER = CanonicalAdapter()
PARIS_WINTER = timezone(timedelta(hours=1))
CARD = "7000000000000005"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(body: bytes) -> list:
    return ADAPTER.parse(Payload(body, "application/json"), None)


def test_the_documented_sale_and_refund_are_read_exactly():
    assert parse(raw("sale.json")) == [Sale("BB-118", CARD, datetime(2026, 11, 22, 8, 15, tzinfo=PARIS_WINTER),
                                            Money(760, "EUR"), (LineItem("FLAT-WHITE", Decimal(2), Money(380, "EUR"), "coffee"),))]
    assert parse(raw("refund.json")) == [Refund("BB-118-R", "BB-118", datetime(2026, 11, 22, 9, tzinfo=PARIS_WINTER),
                                                Money(380, "EUR"))]


def test_the_tours_sale_and_half_refund_book_as_the_readme_says(hub, clock):
    clock.now = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    key = hub.create_partner("brew-bar", earn_rate="2")
    _, card = hub.enrol(key)
    sale = hub.call("POST", "/v1/transactions", key, data=raw("sale.json").replace(CARD.encode(), card.encode()),
                    content_type="application/json")
    assert (sale.status_code, sale.json["points"]) == (201, 15)  # 7.60 EUR x 2, floored
    refund = hub.call("POST", "/v1/transactions", key, data=raw("refund.json"), content_type="application/json")
    assert (refund.status_code, refund.json["points"]) == (201, -7)  # 15 x 3.80 / 7.60 = 7.5, floored
    assert hub.points(card)["available"] == 8


VALUES = json_values(["sale", "refund", "7.60", "3.80", "0", "-1", "1e400", "EUR", "JPY", "XXX", "", CARD,
                      "2026-11-22T08:15:00+01:00", "2026-11-22T08:15:00", "\u202e\u00e9", "9" * 300])
KEYS = {"type", "order_id", "original_order_id", "card_number", "occurred_at", "currency", "total", "items", "sku",
        "category", "quantity", "unit_price"}


@FUZZ
@given(name=st.sampled_from(["sale.json", "refund.json"]), data=st.data())
def test_the_documented_examples_mutated_never_escape_as_another_error(name, data):
    document = mutate_json(json.loads(raw(name)), data, KEYS, VALUES)
    parse_or_refuse(ADAPTER, Payload(json.dumps(document).encode(), "application/json"), None, utc=False)
