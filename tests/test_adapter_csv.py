"""The `csv` adapter on real-looking end-of-day exports: exact figures, bad rows named, hostile bytes survived."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from partners.adapters import BatchAdapter, Payload
from partners.errors import InvalidTransaction, UnreadablePayload, flatten_errors
from partners.money import Money
from partners.transactions import Refund, Sale
from plugins.csv_export import CsvConfigSchema, CsvExportAdapter
from tests.support import fuzz
from tests.support.fuzz import FUZZ

FIXTURES = Path(__file__).parent / "fixtures" / "csv"
HEADER = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n"
CARD = "7000000000000005"
adapter = CsvExportAdapter()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def french_config() -> dict:
    return CsvConfigSchema().load(json.loads((FIXTURES / "eod_fr.config.json").read_text(encoding="utf-8")))


def rows(data: bytes, config: dict | None = None, tz: str = "UTC") -> list:
    return list(adapter.read_rows(io.BytesIO(data), config or {}, tz))


def test_the_adapter_is_a_batch_adapter():
    assert isinstance(adapter, BatchAdapter)
    assert (adapter.name, adapter.content_types, adapter.signed) == ("csv", ("text/csv",), False)


def test_default_export_gives_exact_transactions_in_utc():
    body = (FIXTURES / "eod_default.csv").read_bytes()
    transactions = adapter.parse(Payload(body, "text/csv", timezone="America/New_York"), {})
    assert transactions == [
        Sale("NYC5-20261121-0001", "7000000000000005", utc(2026, 11, 21, 14, 14, 3), Money(1250, "USD")),
        Sale("NYC5-20261121-0002", "7123456789012342", utc(2026, 11, 21, 16, 2, 47), Money(305, "USD")),
        Refund("NYC5-20261121-0003", "NYC5-20261121-0001", utc(2026, 11, 21, 20, 40), Money(420, "USD"),
               card_number="7000000000000005"),
        Refund("NYC5-20261121-0004", "NYC5-20261120-0187", utc(2026, 11, 21, 22, 55, 10), Money(99, "USD")),
        Sale("NYC5-20261121-0005", "7987654321098762", utc(2026, 11, 21, 23, 30), Money(104900, "USD")),
    ]


def test_french_export_with_its_own_headers_semicolons_decimal_commas_and_paris_time():
    with (FIXTURES / "eod_fr.csv").open("rb") as stream:
        read = list(adapter.read_rows(stream, french_config(), "Europe/Paris"))
    assert [row.errors for row in read] == [None] * 4
    assert [(row.number, row.transaction) for row in read] == [
        (1, Sale("LPD-000481", "7000000000000005", utc(2026, 11, 21, 17, 45), Money(1250, "EUR"))),
        (2, Sale("LPD-000482", "7123456789012342", utc(2026, 7, 14, 8, 0), Money(102490, "EUR"))),
        (3, Refund("LPD-000483", "LPD-000481", utc(2026, 11, 21, 18, 2), Money(420, "EUR"))),
        # 03:30 on the night clocks go forward is already summer time (+02:00).
        (4, Sale("LPD-000484", "7987654321098762", utc(2026, 3, 29, 1, 30), Money(99, "EUR"))),
    ]


def test_a_bad_row_is_named_and_the_rows_around_it_still_come_through():
    with (FIXTURES / "bad_rows.csv").open("rb") as stream:
        read = list(adapter.read_rows(stream, {}, "America/New_York"))
    assert [row.number for row in read] == [1, 2, 3, 4, 6]  # row 5 is a blank line
    assert read[0].transaction == Sale("NYC5-20261122-0001", CARD, utc(2026, 11, 22, 14, 2, 11), Money(875, "USD"))
    assert read[4].transaction == Sale("NYC5-20261122-0006", "7987654321098762", utc(2026, 11, 22, 17), Money(2000, "USD"))
    # Row 2's card fails its check digit: read all the same (it may be the partner's alias); the hub decides.
    assert read[1].errors == {"total": ["USD has 2 decimals; '12.505' has 3"]}
    assert read[2].errors == {"_row": ["has 6 fields where the header has 7"]}
    assert set(read[3].errors) == {"original_order_id", "occurred_at", "total"}
    assert read[3].errors["total"] == ["a refund must be greater than zero"]
    assert read[3].errors["original_order_id"] == ["is required for a refund"]


def test_parse_refuses_the_whole_request_naming_each_bad_row_and_field():
    body = (FIXTURES / "bad_rows.csv").read_bytes()
    with pytest.raises(InvalidTransaction) as caught:
        adapter.parse(Payload(body, "text/csv", timezone="America/New_York"), {})
    assert sorted(caught.value.fields) == [
        "row 2.total", "row 3", "row 4.occurred_at", "row 4.original_order_id", "row 4.total",
    ]


def test_errors_name_the_partners_own_column():
    body = ("\ufeffN° de ticket;Type;Carte fidélité;Date;Devise;Montant TTC\r\nT-1;VENTE;" + "7" * 129
            + ";32/11/2026 10:00;EUR;12,505\r\n")
    with pytest.raises(InvalidTransaction) as caught:
        adapter.parse(Payload(body.encode(), "text/csv", timezone="Europe/Paris"), french_config())
    assert sorted(caught.value.fields) == ["row 1.Carte fidélité", "row 1.Date", "row 1.Montant TTC"]
    assert caught.value.fields["row 1.Date"] == ["'32/11/2026 10:00' is not a date and time as %d/%m/%Y %H:%M"]


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("A-1,gift,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,", "type", "'gift' is not one of refund, sale"),
        ("A-1,sale,,2026-11-22T10:00:00Z,EUR,1.00,", "card_number", "is required for a sale"),
        ("A-1,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,B-1", "original_order_id", "is only for refunds"),
        ("A-1,sale,7000000000000005,2026-11-22T10:00:00Z,XXX,1.00,", "currency", "'XXX' is not an ISO 4217 currency code"),
        ("A-1,sale,7000000000000005,2026-11-22T10:00:00Z,JPY,1.5,", "total", "JPY has 0 decimals; '1.5' has 1"),
        ("A-1,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,-1.00,", "total", "'-1.00' is not a non-negative decimal amount"),
        (",sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,", "order_id", "is required"),
        ("A" * 256 + ",sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,", "order_id", "is longer than 255 characters"),
    ],
)
def test_each_field_is_checked(line, field, reason):
    (row,) = rows((HEADER + line + "\n").encode())
    assert row.errors == {field: [reason]}


def test_a_time_without_offset_needs_a_known_partner_time_zone():
    data = (HEADER + "A-1,sale,7000000000000005,2026-11-22T10:00:00,EUR,1.00,\n"
            "A-2,sale,7000000000000005,2026-11-22T10:00:00+01:00,EUR,1.00,\n").encode()
    first, second = rows(data, tz="Mars/Olympus_Mons")
    assert first.errors == {"occurred_at": ["has no UTC offset and the partner's time zone 'Mars/Olympus_Mons' is unknown"]}
    assert second.transaction.occurred_at == utc(2026, 11, 22, 9)


def test_bytes_that_are_not_utf8_spoil_only_their_row():
    data = (HEADER + "A-1,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,\n").encode()
    data += b"A-2,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,caf\xe9\n"
    data += b"A-3,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,2.00,\n"
    read = rows(data)
    assert [(row.number, row.errors) for row in read] == [(1, None), (2, {"_row": ["is not UTF-8 text"]}), (3, None)]
    assert read[2].transaction.total == Money(200, "EUR")


def test_a_malformed_row_is_reported_and_reading_goes_on():
    data = (HEADER + "A-1,sale," + '"' + "9" * 200_000 + '"' + ",x,EUR,1.00,\n"
            "A-2,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,\n").encode()
    first, second = rows(data)
    assert first.errors == {"_row": ["is not CSV: field larger than field limit (131072)"]}
    assert second.transaction.order_id == "A-2"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ((FIXTURES / "missing_headers.csv").read_bytes(), "the header lacks the column(s) card_number, total"),
        (b"", "the file is empty: it has no header"),
        (b"\n\n", "the file is empty: it has no header"),
        (b"order_id,type,card_\xff,occurred_at\n", "the header is not UTF-8 text"),
        (HEADER.replace("total", "total,total").encode(), "the header names total more than once"),
    ],
)
def test_a_file_without_the_required_header_is_unreadable(data, message):
    with pytest.raises(UnreadablePayload, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        rows(data)


def test_a_sales_only_export_may_leave_out_original_order_id_and_extra_columns_are_ignored():
    data = b"store,order_id,type,card_number,occurred_at,currency,total\nNYC5,A-1,sale,7000000000000005,2026-11-22,EUR,1.00\n"
    (row,) = rows(data, tz="Europe/Paris")
    assert row.transaction == Sale("A-1", CARD, utc(2026, 11, 21, 23), Money(100, "EUR"))


def test_a_header_alone_is_nothing_to_book():
    assert adapter.parse(Payload(HEADER.encode(), "text/csv"), {}) == []


class CountingStream(io.RawIOBase):
    """A stream that counts what is read from it, as a request body would arrive."""

    def __init__(self, data: bytes):
        self.inner = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.consumed += len(chunk)
        return len(chunk)


def test_rows_are_read_as_the_file_streams_in_and_the_stream_is_left_open():
    line = "A-{},sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,\n"
    data = (HEADER + "".join(line.format(n) for n in range(100_000))).encode()
    stream = io.BufferedReader(CountingStream(data))
    read = adapter.read_rows(stream, {}, "UTC")
    assert next(read).transaction.order_id == "A-0"
    assert stream.raw.consumed < 64 * 1024 < len(data)
    assert sum(1 for _ in read) == 99_999
    assert not stream.closed


def test_config_schema_names_the_bad_setting():
    schema = CsvConfigSchema()
    with pytest.raises(ValidationError) as caught:
        schema.load({"columns": {"amount": "Montant", "total": "Montant TTC", "currency": "Montant TTC"},
                     "delimiter": ";;", "date_format": "%Q", "colour": "blue"})
    assert sorted(flatten_errors(caught.value.messages)) == [
        "colour", "columns.amount", "columns.currency", "date_format", "delimiter",
    ]
    assert schema.load({}) == {}


def test_type_values_replace_the_default_words():
    data = (HEADER + "A-1,sale,7000000000000005,2026-11-22T10:00:00Z,EUR,1.00,\n").encode()
    (row,) = rows(data, {"type_values": {"VENTE": "sale"}})
    assert row.errors == {"type": ["'sale' is not one of VENTE"]}


# ------------------------------------------------------------------ fuzzing


def parse_or_refuse(data: bytes, config: dict, tz: str = "Europe/Paris") -> None:
    fuzz.parse_or_refuse(adapter, Payload(data, "text/csv", timezone=tz), config)


def stream_or_refuse(data: bytes, config: dict) -> None:
    try:
        for row in adapter.read_rows(io.BytesIO(data), config, "Europe/Paris"):
            assert (row.transaction is None) != (row.errors is None)
            fuzz.assert_valid([row.transaction] if row.transaction else [])
    except UnreadablePayload:
        pass


pieces = st.sampled_from(["", ",", ";", '"', "\n", "\r\n", "\x00", "\ufeff", "é", "12,50", "0.00", "2026-02-30",
                          "refund", "sale", "VENTE", "REMB", "7000000000000005", "EUR", "JPY", "-1", "9" * 30])
cells = st.text(max_size=12) | pieces


@FUZZ
@given(data=st.binary(max_size=400), french=st.booleans())
def test_fuzz_random_bytes(data, french):
    config = french_config() if french else {}
    parse_or_refuse(data, config)
    stream_or_refuse(HEADER.encode() + data, config)


@FUZZ
@given(text=st.text(max_size=300), french=st.booleans())
def test_fuzz_random_text(text, french):
    config = french_config() if french else {}
    parse_or_refuse(text.encode("utf-8", "surrogatepass"), config)


def mutate(lines: list[str], delimiter: str, data) -> str:
    index = data.draw(st.integers(0, len(lines) - 1))
    fields = lines[index].split(delimiter)
    action = data.draw(st.sampled_from(["replace", "drop", "add"]))
    position = data.draw(st.integers(0, len(fields) - 1))
    if action == "replace":
        fields[position] = data.draw(cells)
    elif action == "drop":
        del fields[position]
    else:
        fields.insert(position, data.draw(cells))
    lines[index] = delimiter.join(fields)
    return "\n".join(lines)


@FUZZ
@given(data=st.data(), mutations=st.integers(1, 4))
def test_fuzz_mutated_default_export(data, mutations):
    text = (FIXTURES / "eod_default.csv").read_text(encoding="utf-8")
    for _ in range(mutations):
        text = mutate(text.splitlines(), ",", data)
    parse_or_refuse(text.encode("utf-8", "surrogatepass"), {}, data.draw(st.sampled_from(["UTC", "Europe/Paris", "Nowhere"])))


@FUZZ
@given(data=st.data(), mutations=st.integers(1, 4))
def test_fuzz_mutated_french_export(data, mutations):
    text = (FIXTURES / "eod_fr.csv").read_text(encoding="utf-8-sig")
    for _ in range(mutations):
        text = mutate(text.splitlines(), ";", data)
    stream_or_refuse(text.encode("utf-8", "surrogatepass"), french_config())


@pytest.mark.parametrize("written", ["22/11/2026 09:30 +0100", "22/11/2026 08:30 Z", "22/11/2026 03:30 -05:00"])
def test_a_date_format_with_its_own_offset_is_taken_and_read_at_that_offset(written):
    config = CsvConfigSchema().load({"date_format": "%d/%m/%Y %H:%M %z"})  # refused as "not a strptime format" before
    (row,) = rows((HEADER + f"A-1,sale,{CARD},{written},EUR,1.00,\n").encode(), config, tz="America/New_York")
    assert row.errors is None and row.transaction.occurred_at == utc(2026, 11, 22, 8, 30)


def test_a_zone_name_in_the_date_format_is_refused_with_the_offset_to_use_instead():
    with pytest.raises(ValidationError) as caught:
        CsvConfigSchema().load({"date_format": "%Y-%m-%d %H:%M %Z"})
    assert "%z" in caught.value.messages["date_format"][0]
    assert CsvConfigSchema().load({"date_format": "%d/%m/%Y 100%%Z"}) == {"date_format": "%d/%m/%Y 100%%Z"}


def test_a_shops_order_export_with_one_row_per_line_books_each_order_once():
    """Shopify's order export: the order's fields on its first row, its further lines below with the order id only."""
    data = ("Name,Financial Status,Lineitem name,Loyalty,Created at,Currency,Total\n"
            f"#1001,paid,Espresso beans,{CARD},2026-11-22T10:00:00Z,EUR,31.50\n"
            "#1001,,Milk frother,,,,\n"
            "#1001,,Cups x4,,,,\n"
            "#1002,paid,Teapot,7987654321098762,2026-11-22T11:00:00Z,EUR,20.00\n").encode()
    config = CsvConfigSchema().load({"columns": {"order_id": "Name", "card_number": "Loyalty", "occurred_at": "Created at",
                                                 "currency": "Currency", "total": "Total"}})
    read = rows(data, config)
    assert [(row.number, row.transaction.order_id, row.transaction.total) for row in read] == [
        (1, "#1001", Money(3150, "EUR")), (4, "#1002", Money(2000, "EUR"))]


def test_without_a_type_column_a_negative_total_is_a_refund():
    data = ("order_id,card_number,occurred_at,currency,total,original_order_id\n"
            f"A-1,{CARD},2026-11-22T10:00:00Z,EUR,12.00,\n"
            f"A-2,{CARD},2026-11-22T11:00:00Z,EUR,-4.50,A-1\n"
            f"A-3,{CARD},2026-11-22T12:00:00Z,EUR,-1.00,\n").encode()
    first, second, third = rows(data)
    assert first.transaction == Sale("A-1", CARD, utc(2026, 11, 22, 10), Money(1200, "EUR"))
    assert second.transaction == Refund("A-2", "A-1", utc(2026, 11, 22, 11), Money(450, "EUR"), card_number=CARD)
    assert third.errors == {"original_order_id": ["is required for a refund"]}


def test_a_card_pattern_picks_the_card_out_of_a_cell_that_holds_more():
    config = CsvConfigSchema().load({"card_pattern": r"card (\d{4} ?\d{4} ?\d{4} ?\d{4})"})
    data = (HEADER + "A-1,sale,Ann (card 7000 0000 0000 0005),2026-11-22T10:00:00Z,EUR,1.00,\n"
            + "A-2,sale,Bob (no card),2026-11-22T10:00:00Z,EUR,1.00,\n").encode()
    found, missing = rows(data, config)
    assert found.transaction.card_number == CARD
    assert missing.errors == {"card_number": ["holds nothing the card pattern 'card (\\\\d{4} ?\\\\d{4} ?\\\\d{4} ?\\\\d{4})' finds"]}
    for bad in ("card (", "(a)(b)"):
        with pytest.raises(ValidationError) as caught:
            CsvConfigSchema().load({"card_pattern": bad})
        assert list(caught.value.messages) == ["card_pattern"]
