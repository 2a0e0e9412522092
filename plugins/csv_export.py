"""The `csv` adapter: a till's end-of-day export, one transaction a row (or a shop's, one row per line).

An export can hold a million rows and one bad row must not cost the other
999,999, so the file is read as it streams in and each row stands or falls
alone. The checks are written out by hand rather than run through a
marshmallow schema per row: at that volume a schema is the bottleneck.

Every retailer's export differs a little (its own column headers, `;` and a
decimal comma in France, day-first dates, its own words for a refund), so
those are partner settings; the meaning of the columns does not change.
Errors name the column by the retailer's own header, as it reads in its file.
A shop's order export writes one row per line item with the order's money
on its first row only: the rows below with the same order id and no total
of their own, and no currency or no time either, are that order's, and yield
nothing more (Shopify repeats the order's `Created at` on every line's row,
never its currency or totals). Without a type column, the sign of the total
says sale or refund; a partner's `card_pattern` picks the card out of a cell
that holds more than the card.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from partners.adapters import Payload, Row
from partners.cards import REFERENCE_ERROR, is_card_reference
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.fields import MAX_ORDER_ID
from partners.hookspecs import hookimpl
from partners.money import CURRENCY_DECIMALS, Money, MoneyError
from partners.payloads import ControlCharacter, csv_records
from partners.text import REASON
from partners.transactions import Refund, Sale, Transaction

#: The canonical columns, in the order of the default header.
COLUMNS = ("order_id", "type", "card_number", "occurred_at", "currency", "total", "original_order_id")
#: A sales-only export may leave out `original_order_id`; every other column must be there.
#: Without a type column, a row's type is the sign of its total: a negative total is a refund.
REQUIRED = frozenset(COLUMNS) - {"original_order_id", "type"}
DEFAULT_TYPES = {"sale": "sale", "refund": "refund"}
#: The key of Row.errors for a problem with the row as a whole (its field count, its bytes).
WHOLE_ROW = "_row"
MAX_ID = MAX_ORDER_ID


def _strptime_format(value: str) -> None:
    """A format is good if a time it writes reads back (with its offset, for %z).

    %Z is refused: strptime reads a zone name but keeps none (the time comes
    back without an offset), and names such as CST stand for several zones.
    """
    if "%Z" in value.replace("%%", ""):
        raise ValidationError("%Z (a zone's name) is ambiguous and strptime keeps no offset for it: "
                              "write the offset with %z (+0100) or leave the zone out (the partner's own applies)")
    sample = datetime(2026, 11, 22, 9, 30, 15, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(value), value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a strptime format such as \"%d/%m/%Y %H:%M\"") from None


class CsvConfigSchema(Schema):
    """A partner's export layout; every setting is optional."""

    class Meta:
        unknown = RAISE

    columns = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.Length(min=1, max=200)),
        metadata={"description": "canonical column name -> the partner's own header", "example": {"total": "Montant"}},
    )
    date_format = fields.String(
        validate=_strptime_format,
        metadata={"description": "strptime format of occurred_at; default ISO 8601", "example": "%d/%m/%Y %H:%M"},
    )
    delimiter = fields.String(validate=validate.NoneOf(['"', "\r", "\n"]), metadata={"example": ";"})
    decimal_separator = fields.String(validate=validate.OneOf([".", ","]), metadata={"example": ","})
    type_values = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.String(validate=validate.OneOf(["sale", "refund"])),
        metadata={"description": "the partner's words for sale and refund", "example": {"VENTE": "sale", "REMB": "refund"}},
    )

    card_pattern = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "a regular expression that picks the card out of its cell (its first group, else "
                                 "the whole match): for a cell such as 'Loyalty 7000 0000 0000 0008'",
                  "example": r"(\d{16})"},
    )

    @validates("card_pattern")
    def _a_pattern(self, value: str, **kwargs) -> None:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValidationError(f"is not a regular expression: {exc}") from None
        if compiled.groups > 1:
            raise ValidationError("has more than one group: the card is its first group, or the whole match")

    @validates("delimiter")
    def _one_character(self, value: str, **kwargs) -> None:
        if len(value) != 1:
            raise ValidationError("must be a single character")

    @validates("columns")
    def _known_columns(self, value: dict, **kwargs) -> None:
        errors = {name: [f"is not a column; the columns are {', '.join(COLUMNS)}"] for name in value if name not in COLUMNS}
        seen: dict[str, str] = {}
        for name, header in value.items():
            if header in seen:
                errors.setdefault(name, []).append(f"{header!r} is already the header of {seen[header]}")
            seen.setdefault(header, name)
        if errors:
            raise ValidationError(errors)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class _Layout:
    """One partner's settings, resolved once per file so each row costs only its own checks."""

    def __init__(self, config: Mapping[str, Any], timezone_name: str):
        self.headers = {name: name for name in COLUMNS} | dict(config.get("columns") or {})
        self.date_format = config.get("date_format")
        self.delimiter = config.get("delimiter", ",")
        self.decimal_comma = config.get("decimal_separator") == ","
        self.types = dict(config.get("type_values") or DEFAULT_TYPES)
        self.card_pattern = re.compile(config["card_pattern"]) if config.get("card_pattern") else None
        self.timezone_name = timezone_name
        self.zone = _zone(timezone_name)

    def positions(self, header: list[str]) -> dict[str, int]:
        """Where each canonical column sits in this file's header."""
        titles = [title.strip() for title in header]
        wanted = [self.headers[name] for name in COLUMNS]
        duplicated = sorted({title for title in titles if title in wanted and titles.count(title) > 1})
        if duplicated:
            raise UnreadablePayload(f"the header names {', '.join(duplicated)} more than once")
        missing = [self.headers[name] for name in COLUMNS if name in REQUIRED and self.headers[name] not in titles]
        if missing:
            raise UnreadablePayload(f"the header lacks the column(s) {', '.join(missing)}")
        return {name: titles.index(self.headers[name]) for name in COLUMNS if self.headers[name] in titles}

    def moment(self, text: str) -> datetime:
        """The row's time in UTC; ValueError says why it is not one."""
        try:
            moment = datetime.strptime(text, self.date_format) if self.date_format else datetime.fromisoformat(text)
        except ValueError:
            expected = self.date_format or "ISO 8601, such as 2026-11-22T09:30:00+01:00"
            raise ValueError(f"{text!r} is not a date and time as {expected}") from None
        if moment.tzinfo is None:
            if self.zone is None:
                raise ValueError(f"has no UTC offset and the partner's time zone {self.timezone_name!r} is unknown")
            moment = moment.replace(tzinfo=self.zone)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{text!r} is out of range") from None


class _RowReader:
    """Turns one CSV record into a Row."""

    def __init__(self, layout: _Layout, header: list[str]):
        self.layout = layout
        self.width = len(header)
        self.at = layout.positions(header)
        self.header_of = layout.headers

    def read(self, number: int, record: list[str]) -> Row:
        if len(record) != self.width:
            return Row(number, errors={WHOLE_ROW: [f"has {len(record)} fields where the header has {self.width}"]})
        try:
            "".join(record).encode("utf-8")
        except UnicodeEncodeError:
            return Row(number, errors={WHOLE_ROW: ["is not UTF-8 text"]})
        values = {name: record[index].strip() for name, index in self.at.items()}
        errors: dict[str, list[str]] = {}
        kind = self._type(values["type"], errors) if "type" in self.at else self._signed(values, errors)
        order_id = self._identifier("order_id", values["order_id"], errors)
        card = self._card(kind, values["card_number"], errors)
        original = self._original(kind, values.get("original_order_id", ""), errors)
        occurred_at = self._moment(values["occurred_at"], errors)
        total = self._total(kind, values["total"], values["currency"], errors)
        if errors:
            return Row(number, errors=errors)
        if kind == "sale":
            return Row(number, Sale(order_id, card, occurred_at, total))
        return Row(number, Refund(order_id, original, occurred_at, total, card_number=card))

    def _fail(self, errors: dict, name: str, reason: str) -> None:
        errors.setdefault(self.header_of[name], []).append(reason)

    def continues(self, record: list[str], previous: str | None) -> bool:
        """A further line of the order above (a shop's export writes one row per line, the order's money on its
        first row only): the same order id, no total of its own, and no currency or no time either. Shopify repeats
        `Created at` on each line's row; a row with its own time and currency but no total is a row of its own, and
        its missing total is reported."""
        if previous is None or len(record) != self.width:
            return False
        values = {name: record[index].strip() for name, index in self.at.items()}
        own_row = values["currency"] and values["occurred_at"]
        return values["order_id"] == previous and not values["total"] and not own_row

    def order_id(self, record: list[str]) -> str | None:
        index = self.at["order_id"]
        return record[index].strip() if index < len(record) else None

    def _signed(self, values: dict[str, str], errors: dict) -> str:
        """A file without a type column: a negative total is a refund, whose amount is the total's size."""
        if values["total"].startswith("-"):
            values["total"] = values["total"][1:].strip()
            return "refund"
        return "sale"

    def _type(self, text: str, errors: dict) -> str | None:
        kind = self.layout.types.get(text)
        if kind is None:
            self._fail(errors, "type", f"{text!r} is not one of {', '.join(sorted(self.layout.types))}")
        return kind

    def _identifier(self, name: str, text: str, errors: dict, missing: str = "is required") -> str:
        if not text:
            self._fail(errors, name, missing)
        elif len(text) > MAX_ID:
            self._fail(errors, name, f"is longer than {MAX_ID} characters")
        return text

    def _card(self, kind: str | None, text: str, errors: dict) -> str | None:
        if not text:
            if kind == "sale":
                self._fail(errors, "card_number", "is required for a sale")
            return None
        pattern = self.layout.card_pattern
        if pattern is not None:
            found = pattern.search(text)
            if found is None:
                self._fail(errors, "card_number", f"holds nothing the card pattern {pattern.pattern!r} finds")
                return None
            text = "".join((found.group(1) if pattern.groups else found.group(0)).split())
        if not is_card_reference(text):
            self._fail(errors, "card_number", REFERENCE_ERROR)
        return text

    def _original(self, kind: str | None, text: str, errors: dict) -> str | None:
        if kind == "refund":
            return self._identifier("original_order_id", text, errors, "is required for a refund")
        if kind == "sale" and text:
            self._fail(errors, "original_order_id", "is only for refunds")
        return None

    def _moment(self, text: str, errors: dict) -> datetime | None:
        try:
            return self.layout.moment(text)
        except ValueError as exc:
            self._fail(errors, "occurred_at", str(exc))
            return None

    def _total(self, kind: str | None, text: str, currency: str, errors: dict) -> Money | None:
        if currency not in CURRENCY_DECIMALS:
            self._fail(errors, "currency", f"{currency!r} is not an ISO 4217 currency code")
            return None
        try:
            total = Money.parse(text.replace(",", ".") if self.layout.decimal_comma else text, currency)
        except MoneyError as exc:
            self._fail(errors, "total", str(exc))
            return None
        if kind == "refund" and total.minor == 0:
            self._fail(errors, "total", "a refund must be greater than zero")
        return total


def _header(records: Iterator[list[str] | csv.Error]) -> list[str]:
    for record in records:
        if isinstance(record, csv.Error):
            raise UnreadablePayload(f"the header is not CSV: {record}")
        if any(record):
            try:
                "".join(record).encode("utf-8")
            except UnicodeEncodeError:
                raise UnreadablePayload("the header is not UTF-8 text") from None
            return record
    raise UnreadablePayload("the file is empty: it has no header")


class CsvExportAdapter:
    name = "csv"
    content_types = ("text/csv",)
    config_schema = CsvConfigSchema
    signed = False

    def read_rows(self, stream: IO[bytes], config: Mapping[str, Any], timezone: str) -> Iterator[Row]:
        """Yield each data row (1 is the first after the header; blank lines count but yield nothing).

        Bytes that are not UTF-8 spoil only the row they are in: it is
        yielded with a `_row` error and reading goes on.
        """
        layout = _Layout(config, timezone)
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            records = csv_records(csv.reader(text, delimiter=layout.delimiter))
            rows = _RowReader(layout, _header(records))
            field_at = {index: name for name, index in rows.at.items()}
            previous = None  # the order id of the row above: its further lines yield nothing
            for number, record in enumerate(records, start=1):
                if isinstance(record, ControlCharacter):  # named by its canonical field, as other row errors are
                    yield Row(number, errors={field_at.get(record.column, WHOLE_ROW): [REASON]})
                elif isinstance(record, csv.Error):
                    yield Row(number, errors={WHOLE_ROW: [f"is not CSV: {record}"]})
                elif any(record) and not rows.continues(record, previous):
                    previous = rows.order_id(record)
                    yield rows.read(number, record)
        finally:
            text.detach()  # the caller's stream is the caller's to close

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        transactions: list[Transaction] = []
        errors: dict[str, list[str]] = {}
        for row in self.read_rows(io.BytesIO(payload.body), config, payload.timezone):
            if row.errors:
                for field, reasons in row.errors.items():
                    errors[f"row {row.number}" if field == WHOLE_ROW else f"row {row.number}.{field}"] = list(reasons)
            else:
                transactions.append(row.transaction)
        if errors:
            raise InvalidTransaction(errors, "Some rows of the export are invalid")
        return transactions


@hookimpl
def coalition_register_adapters():
    return [CsvExportAdapter()]
