"""The csv adapter held to a shop's real order export: Shopify's orders CSV (tests/fixtures/csv/README.md).

Shopify writes one row per line item under its full header (79 columns):
the order's money on its first row only, its `Created at` on every row. The
partner maps its columns once (`shopify_orders_export.config.json`): the
order `Name`, the `Subtotal` points are earned on (the Shopify adapter's own
measure), the card picked out of `Note Attributes`. Read whole, booked
through the batch endpoint, and mutated at random.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.adapters import Payload, Row
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.money import Money
from partners.transactions import Sale
from plugins.csv_export import CsvConfigSchema, CsvExportAdapter
from tests.support import fuzz
from tests.support.fuzz import FUZZ
from tests.support.ledger import snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
EXPORT = (FIXTURES / "shopify_orders_export.csv").read_bytes()
SETTINGS = json.loads((FIXTURES / "shopify_orders_export.config.json").read_text(encoding="utf-8"))
CONFIG = CsvConfigSchema().load(SETTINGS)
ADAPTER = CsvExportAdapter()
MAYA, SAM = "7000123456789010", "7123456789012342"
NEW_YORK = "America/New_York"


def rows(body: bytes = EXPORT, config: dict = CONFIG) -> list[Row]:
    return list(ADAPTER.read_rows(io.BytesIO(body), config, NEW_YORK))


def test_each_order_of_the_export_is_one_sale_on_its_subtotal_and_a_shopper_without_a_card_is_named():
    assert rows() == [
        # 2 x 24.50 and 19.00, less WELCOME10's 6.85: 61.65; its second line's row (row 2) yields nothing more.
        Row(1, Sale("#1042", MAYA, datetime(2026, 11, 20, 15, 15, tzinfo=timezone.utc), Money(6165, "USD"))),
        Row(3, Sale("#1043", SAM, datetime(2026, 11, 20, 21, 41, 27, tzinfo=timezone.utc), Money(1800, "USD"))),
        Row(4, errors={"Note Attributes": ["is required for a sale"]}),
    ]


def test_on_the_single_endpoint_the_export_is_refused_whole_naming_the_row_and_its_column():
    with pytest.raises(InvalidTransaction) as caught:
        ADAPTER.parse(Payload(EXPORT, "text/csv", timezone=NEW_YORK), CONFIG)
    assert caught.value.fields == {"row 4.Note Attributes": ["is required for a sale"]}


def test_a_further_lines_row_is_told_from_an_orders_row_without_a_total():
    """A row of the same order with its own currency and time, but no total, is a row of its own: refused, not dropped."""
    lines = EXPORT.decode().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    record = next(csv.reader([lines[3]]))  # #1042's second line
    record[header.index("Currency")] = "USD"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(record)
    body = ("".join(lines[:3]) + out.getvalue() + "".join(lines[4:])).encode()
    assert rows(body)[1] == Row(2, errors={"Note Attributes": ["is required for a sale"],
                                           "Subtotal": ["'' is not a non-negative decimal amount"]})


# ---------------------------------------------------------------- through the hub


def test_the_export_books_each_members_order_once_through_the_batch_endpoint(hub, clock, database):
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    key = hub.create_partner("northside", currency="USD", timezone=NEW_YORK, adapter="csv", adapter_config=SETTINGS)
    (maya_id, maya), (_, sam) = hub.enrol(key), hub.enrol(key)
    export = EXPORT.replace(MAYA.encode(), maya.encode()).replace(SAM.encode(), sam.encode())
    first = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv")
    assert first.status_code == 200, first.json
    assert (first.json["accepted"], first.json["duplicates"]) == (2, 0)
    assert [(row["row"], row["errors"]) for row in first.json["rejected"]] == [
        (4, {"Note Attributes": ["is required for a sale"]})]
    assert (hub.points(maya)["available"], hub.points(sam)["available"]) == (61, 18)
    assert [entry["order_id"] for entry in hub.history(maya_id)["items"]] == ["#1042"]
    before = snapshot(database)
    again = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv")
    assert (again.json["accepted"], again.json["duplicates"]) == (0, 2)
    assert snapshot(database)["balances"] == before["balances"]


# ---------------------------------------------------------------- the real export, mutated


CELLS = st.text(max_size=16) | st.sampled_from(
    ["", "#1042", "61.65", "-61.65", "0.00", "1e9", "99999999999999999999.99", "USD", "JPY", "XXX",
     "2026-11-20 10:15:00 -0500", "2026-02-30 10:15:00 -0500", "loyalty_card: 7000123456789010", "loyalty_card:",
     "loyalty_card: " + "9" * 200, '"', "\n", "\r\n", ",", "\x00", "\ufeff", "\u202e\u00e9\U0001f9fe", "9" * 300])


def mutated(data) -> bytes:
    records = list(csv.reader(io.StringIO(EXPORT.decode(), newline="")))
    for _ in range(data.draw(st.integers(1, 6))):
        record = records[data.draw(st.integers(0, len(records) - 1))]
        action = data.draw(st.sampled_from(["replace", "drop", "add", "duplicate"]))
        position = data.draw(st.integers(0, len(record) - 1))
        if action == "replace":
            record[position] = data.draw(CELLS)
        elif action == "drop":
            del record[position]
        elif action == "add":
            record.insert(position, data.draw(CELLS))
        else:
            records.insert(data.draw(st.integers(1, len(records))), list(record))
    out = io.StringIO()
    csv.writer(out, lineterminator=data.draw(st.sampled_from(["\n", "\r\n"]))).writerows(records)
    return out.getvalue().encode("utf-8", "surrogatepass")


@FUZZ
@given(data=st.data(), tz=st.sampled_from([NEW_YORK, "UTC", "Nowhere"]))
def test_the_real_export_mutated_never_escapes_as_another_error(data, tz):
    body = mutated(data)
    fuzz.parse_or_refuse(ADAPTER, Payload(body, "text/csv", timezone=tz), CONFIG)
    try:
        for row in ADAPTER.read_rows(io.BytesIO(body), CONFIG, tz):
            assert (row.transaction is None) != (row.errors is None)
            fuzz.assert_valid([row.transaction] if row.transaction else [])
    except UnreadablePayload:
        pass
