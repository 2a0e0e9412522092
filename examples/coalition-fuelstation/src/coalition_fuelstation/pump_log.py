"""The `fuelstation` adapter: a forecourt controller's pump log, one fill per line.

A station's back office exports the log of a shift and posts it whole. It is
booked whole or refused whole, so the station fixes a line and re-sends the
same log instead of working out which half went in. Errors name the line as
an editor numbers it (the header is line 1): "line 3.litres".

The price per litre has a tenth of a cent (1.689 EUR), which is not an
amount of money in EUR; only the amount paid is. So a fill's one line item
carries the litres as its quantity and the amount paid as its price: every
Money is exact, the engine's share of the total for the line is exactly the
amount paid, and a rule reads the litres from the quantity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, fields, validate

from partners.adapters import Payload
from partners.cards import is_valid_card_number
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.money import CURRENCY_DECIMALS, Money, MoneyError
from partners.transactions import LineItem, Refund, Sale, Transaction

HEADER = "#PUMPLOG"
VERSION = "v1"
FUEL = "fuel"

SALE_FIELDS = ("type", "txn_id", "time", "pump", "card", "grade", "litres", "price_per_litre", "amount", "currency")
LAYOUTS = {"TXN": SALE_FIELDS, "RFD": (*SALE_FIELDS, "original_txn_id")}

STATION = re.compile(r"[A-Z0-9][A-Z0-9-]{0,23}")
_TXN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,23}")
_PUMP = re.compile(r"[A-Z0-9]{1,8}")
GRADE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,15}")
_LITRES = re.compile(r"(0|[1-9][0-9]{0,3})(\.[0-9]{1,3})?")
_PRICE = re.compile(r"(0|[1-9][0-9]{0,4})(\.[0-9]{1,4})?")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?")


class _Bad(Exception):
    """One field's problem, as the station's developer should read it."""


class FuelstationConfig(Schema):
    """`stations`: the only station ids this partner may post logs for (all, when left out)."""

    class Meta:
        unknown = RAISE

    stations = fields.List(
        fields.String(validate=validate.Regexp(STATION, error="must be 1-24 capital letters, digits or dashes")),
        validate=validate.Length(min=1, error="must name at least one station"),
    )


class FuelstationAdapter:
    name = "fuelstation"
    content_types = ("text/plain",)
    config_schema = FuelstationConfig
    signed = False

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        lines = payload.body.removeprefix(b"\xef\xbb\xbf").splitlines()
        station = _station(_header(lines), config)
        transactions: list[Transaction] = []
        errors: dict[str, list[str]] = {}
        first_seen: dict[str, int] = {}
        for number, raw in enumerate(lines[1:], start=2):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                errors[f"line {number}"] = ["is not UTF-8 text"]
                continue
            if not text or text.startswith("#"):
                continue
            transaction, problems = _read_line(number, text, station, payload.timezone)
            if not problems:
                txn_id = text.split("|")[1]
                if txn_id in first_seen:
                    problems = {f"line {number}.txn_id": [f"repeats transaction {txn_id} of line {first_seen[txn_id]}"]}
                first_seen.setdefault(txn_id, number)
            errors.update(problems)
            if transaction is not None:
                transactions.append(transaction)
        if errors:
            raise InvalidTransaction(errors, "Some lines of the pump log are invalid")
        return transactions


def _header(lines: list[bytes]) -> list[str]:
    try:
        tokens = lines[0].decode("utf-8").split() if lines else []
    except UnicodeDecodeError:
        tokens = []
    if tokens[:1] != [HEADER]:
        raise UnreadablePayload(f'not a pump log: the first line must be the header "{HEADER} {VERSION} station=<id>"')
    return tokens[1:]


def _station(tokens: list[str], config: Mapping[str, Any]) -> str:
    if tokens[:1] != [VERSION]:
        raise _bad_header("line 1.version", f"this adapter reads {VERSION} pump logs")
    loose = [token for token in tokens[1:] if "=" not in token]
    if loose:
        raise _bad_header("line 1", f"{loose[0][:40]!r} is not a key=value setting; is the log on one line? "
                                    "(curl -d drops line breaks: send the file with --data-binary)")
    settings = dict(token.partition("=")[::2] for token in tokens[1:])
    station = settings.get("station", "")
    if not STATION.fullmatch(station):
        raise _bad_header("line 1.station", "must be station=<id>: 1-24 capital letters, digits or dashes")
    allowed = config.get("stations")
    if allowed and station not in allowed:
        raise _bad_header("line 1.station", f"{station} is not one of this partner's stations: {', '.join(allowed)}")
    return station


def _bad_header(path: str, reason: str) -> InvalidTransaction:
    return InvalidTransaction({path: [reason]}, "The pump log's header is invalid")


def _read_line(number: int, text: str, station: str, timezone: str) -> tuple[Transaction | None, dict[str, list[str]]]:
    """The line's transaction (None for a fill without a loyalty card) and its errors by path."""
    cells = text.split("|")
    layout = LAYOUTS.get(cells[0])
    if layout is None:
        return None, {f"line {number}.type": [f"{cells[0][:20]!r} is not a line type: TXN (a fill) or RFD (a refund)"]}
    if len(cells) != len(layout):
        return None, {f"line {number}": [f"has {len(cells)} fields; a {cells[0]} line has {len(layout)}: {'|'.join(layout)}"]}
    values, errors = _values(dict(zip(layout, cells)), timezone)
    named = {f"line {number}.{field}": [reason] for field, reason in errors.items()}
    if named or values["card"] is None:
        return None, named
    return _transaction(station, values), {}


def _values(cells: dict[str, str], timezone: str) -> tuple[dict[str, Any], dict[str, str]]:
    readers: dict[str, Callable[[str], Any]] = {
        "txn_id": _txn_id, "time": lambda raw: _time(raw, timezone), "pump": _pump, "card": _card, "grade": _grade,
        "litres": _litres, "price_per_litre": _price, "currency": _currency, "original_txn_id": _txn_id,
    }
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field, read in readers.items():
        if field in cells:
            try:
                values[field] = read(cells[field])
            except _Bad as exc:
                errors[field] = str(exc)
    if "currency" in values:
        try:
            values["amount"] = _amount(cells["amount"], values["currency"], values.get("litres"), values.get("price_per_litre"))
        except _Bad as exc:
            errors["amount"] = str(exc)
    return values, errors


def _transaction(station: str, values: dict[str, Any]) -> Transaction:
    order_id = f"{station}:{values['txn_id']}"
    if "original_txn_id" in values:
        return Refund(order_id, f"{station}:{values['original_txn_id']}", values["time"], values["amount"], values["card"])
    item = LineItem(sku=values["grade"], quantity=values["litres"], unit_price=values["amount"], category=FUEL)
    return Sale(order_id, values["card"], values["time"], values["amount"], (item,))


def _txn_id(raw: str) -> str:
    if not _TXN_ID.fullmatch(raw):
        raise _Bad("must be 1-24 letters, digits or dashes")
    return raw


def _time(raw: str, timezone: str) -> datetime:
    if not _TIME.fullmatch(raw):
        raise _Bad('must be an ISO 8601 time to the second, such as "2026-11-20T07:42:10+01:00"')
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _Bad(f"{raw} is not a real date and time") from None
    if moment.tzinfo is not None:
        return moment
    try:
        return moment.replace(tzinfo=ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise _Bad(f"has no UTC offset and the partner's time zone {timezone!r} is unknown") from None


def _pump(raw: str) -> str:
    if not _PUMP.fullmatch(raw):
        raise _Bad("must be 1-8 capital letters or digits, such as PUMP04")
    return raw


def _card(raw: str) -> str | None:
    if raw == "":
        return None
    if not is_valid_card_number(raw):
        raise _Bad("is not a loyalty card number (16 digits with a Luhn check digit); leave it empty for a fill without a card")
    return raw


def _grade(raw: str) -> str:
    if not GRADE.fullmatch(raw):
        raise _Bad("must be 1-16 capital letters, digits, _ or -, such as DIESEL or SP95-E10")
    return raw


def _positive(raw: str, pattern: re.Pattern, shape: str) -> Decimal:
    if not pattern.fullmatch(raw):
        raise _Bad(f"must be a decimal such as {shape}")
    value = Decimal(raw)
    if value == 0:
        raise _Bad("must be greater than zero")
    return value


def _litres(raw: str) -> Decimal:
    return _positive(raw, _LITRES, "42.37 (at most 3 decimals)")


def _price(raw: str) -> Decimal:
    return _positive(raw, _PRICE, "1.689 (at most 4 decimals)")


def _currency(raw: str) -> str:
    if raw not in CURRENCY_DECIMALS:
        raise _Bad(f"{raw[:10]!r} is not an ISO 4217 currency code")
    return raw


def _amount(raw: str, currency: str, litres: Decimal | None, price: Decimal | None) -> Money:
    """The amount paid; the pump rounds litres x price to the currency's unit, so they differ by less than one."""
    try:
        amount = Money.parse(raw, currency)
    except MoneyError as exc:
        raise _Bad(str(exc)) from None
    if amount.minor == 0:
        raise _Bad("must be greater than zero")
    if litres is not None and price is not None:
        unit = Fraction(1, 10 ** CURRENCY_DECIMALS[currency])
        if abs(Fraction(litres) * Fraction(price) - amount.minor * unit) >= unit:
            raise _Bad(f"{raw} is not litres x price per litre: {litres} x {price} = {litres * price}")
    return amount
