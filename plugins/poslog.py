"""The `poslog` adapter: NRF ARTS POSLog XML, the log a till keeps of everything it did.

A POSLog holds every transaction of a till, not only loyalty sales: sign-ons,
cancelled and training receipts, sales to shoppers without a card. Only what
earns or takes back points becomes a canonical transaction; the rest is
passed over, so a till can send its log as it is.

XML from outside is parsed with defusedxml and no DTD at all: an entity bomb
or an external entity (file:///etc/passwd) is refused before it is expanded.

Decisions a retailer can rely on:
- order id: RetailStoreID-WorkstationID-SequenceNumber (BusinessUnit/UnitID
  stands in for RetailStoreID, as in POSLog 6); a return names its sale the
  same way in its TransactionLink (on the Return line or on the
  RetailTransaction).
- the member: LoyaltyAccount/LoyaltyAccountID, or NCR ACS's own
  acs:LoyaltyMembership/acs:LoyaltyID line; a hub card or the partner's
  alias of one (the hub resolves it).
- passed over: a Transaction with CancelFlag or TrainingModeFlag true
  (attribute or child element), one without RetailTransaction (a sign-on),
  a sale without a member, a RetailTransaction whose lines are all voided or
  none of which is a Sale or a Return.
- voids: a voided line with a positive amount is voided itself (ARTS); one
  with a negative amount is the till's cancelling line (NCR ACS) and takes
  back the latest standing line of the same item and amount. A negative line
  that voids nothing (a deposit returned, a coupon) stands and lowers the
  total; it is no item.
- a line's unit price is ExtendedAmount / Quantity when that is a whole number
  of minor units; a weighed item (a fractional quantity with its
  RegularSalesUnitPrice) keeps both; otherwise (0.750 kg at 3.37 and no
  price) the line is carried as quantity 1 at its ExtendedAmount.
- total, what the customer paid before tax: TransactionGrandAmount less
  TransactionTaxAmount (after loyalty rewards and coupons), else
  Total[@TotalType="TransactionNetAmount"] (a return's may be written
  negative), else the sum of the standing lines.
- currency: the Transaction's CurrencyCode, else the Currency attribute of its
  amounts; amounts naming another currency are refused.
- a transaction with both Sale and Return lines (an exchange) is refused:
  the till must send the return and the new sale as two transactions.
- `parse` (POST /v1/transactions) is all or nothing: one bad transaction
  refuses the file, naming "Transaction <n>.<field>" (n counts every
  Transaction in the file from 1). `read_rows` (POST /v1/transactions/batch)
  reads a transaction at a time, so a resent log books only what is new and
  a bad transaction is its own row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree

from partners.adapters import Payload, Row
from partners.cards import REFERENCE_ERROR, is_card_reference
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.fields import MAX_ORDER_ID
from partners.hookspecs import hookimpl
from partners.money import CURRENCY_DECIMALS, Money, MoneyError
from partners.text import REASON, has_control
from partners.transactions import LineItem, Refund, Sale, Transaction

ARTS = "http://www.nrf-arts.org/IXRetail/namespace/"
_NAMESPACES = (ARTS, ARTS.rstrip("/"), "")
_TRUE, _FALSE = ("true", "1"), ("false", "0")
MAX_ID = MAX_ORDER_ID

#: A standing Sale or Return line: its kind, its LineItem's number in the transaction, the element, its signed amount.
_Line = tuple[str, int, Element, int]


class _Invalid(Exception):
    """One bad field of one transaction; collected, then reported together."""

    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason


class _Tags:
    """Qualified element paths in the file's own namespace (the ARTS one, or none)."""

    def __init__(self, namespace: str):
        self.prefix = f"{{{namespace}}}" if namespace else ""

    def __call__(self, *names: str) -> str:
        return "/".join(self.prefix + name for name in names)


def _row(element: Element, number: int, tags: _Tags, zone_name: str) -> Row | None:
    try:
        _screen(element)
        transaction = _TransactionReader(element, number, tags, zone_name).read()
    except _Invalid as exc:
        return Row(number, errors={exc.path: [exc.reason]})
    except InvalidTransaction as exc:
        return Row(number, errors={f"Transaction {number}.{name}": reasons for name, reasons in exc.fields.items()})
    return Row(number, transaction) if transaction is not None else None


def _root_tags(root: Element) -> _Tags:
    namespace, _, local = root.tag[1:].rpartition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "POSLog" or namespace not in _NAMESPACES:
        raise UnreadablePayload(f"the root element is {root.tag!r}, not an ARTS POSLog")
    return _Tags(namespace)


def _root(body: bytes) -> tuple[Element, _Tags]:
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise UnreadablePayload("the body declares a DTD or entities; a POSLog needs none and they are refused") from None
    except (ParseError, ValueError) as exc:
        raise UnreadablePayload(f"the body is not well-formed XML: {exc}") from None
    _screen(root)
    return root, _root_tags(root)


def _screen(root: Element) -> None:
    """XML 1.0 has no NUL, but DEL and the C1 controls are well-formed: every text and attribute is checked once here."""
    errors: dict[str, list[str]] = {}
    for element in root.iter():
        local = element.tag.rpartition("}")[2]
        if has_control(element.text or "") or has_control(element.tail or ""):
            errors[local] = [REASON]
        for name, value in element.attrib.items():
            if has_control(value):
                errors[f"{local}@{name.rpartition('}')[2]}"] = [REASON]
    if errors:
        raise InvalidTransaction(errors, "Some values of the POSLog contain a control character")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: Element, path: str) -> str | None:
    found = element.findtext(path)
    return None if found is None else found.strip()


def _flag(element: Element, name: str, tags: _Tags, path: str) -> bool:
    value = element.get(name)
    if value is None:
        value = _text(element, tags(name))
    if value is None or value.lower() in _FALSE:
        return False
    if value.lower() in _TRUE:
        return True
    raise _Invalid(path, f"{value!r} is neither true nor false")


def _amount(element: Element, path: str, currency: str, *, signed: bool = False) -> Money:
    """An xs:decimal in the major unit, exact in the currency's minor unit ("12.500" is 12.50)."""
    text = (element.text or "").strip()
    if signed:
        text = text.removeprefix("-")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    try:
        return Money.parse(text, currency)
    except MoneyError as exc:
        raise _Invalid(path, str(exc)) from None


def _quantity(text: str | None, path: str) -> Decimal:
    if text is None:
        return Decimal(1)
    whole, _, fraction = text.partition(".")
    if not (whole.isdigit() and whole.isascii() and (fraction == "" or fraction.isdigit() and fraction.isascii())):
        raise _Invalid(path, f"{text!r} is not a positive decimal quantity")
    if len(whole) > 12 or len(fraction) > 6 or Decimal(text) == 0:
        raise _Invalid(path, f"{text!r} is not a positive quantity of at most 12 digits and 6 decimals")
    return Decimal(text)


def _identifier(text: str | None, path: str) -> str:
    if not text:
        raise _Invalid(path, "is required")
    return _bounded(text, path)


def _bounded(text: str, path: str) -> str:
    if len(text) > MAX_ID:
        raise _Invalid(path, f"is longer than {MAX_ID} characters")
    return text


class _TransactionReader:
    """Reads one Transaction element; its first bad field raises _Invalid."""

    def __init__(self, element: Element, number: int, tags: _Tags, zone_name: str):
        self.element = element
        self.tags = tags
        self.where = f"Transaction {number}"
        self.zone_name = zone_name

    def read(self) -> Transaction | None:
        """The canonical transaction, or None for one that books nothing."""
        retail = self.element.find(self.tags("RetailTransaction"))
        if retail is None or self._flagged("CancelFlag") or self._flagged("TrainingModeFlag"):
            return None
        lines = self._lines(retail)
        kinds = {kind for kind, _, _, voided in lines if not voided}
        if not kinds:
            return None
        if kinds == {"Sale", "Return"}:
            raise _Invalid(f"{self.where}.RetailTransaction", "holds both Sale and Return lines (an exchange); "
                           "send the return and the new sale as two transactions")
        is_return = kinds == {"Return"}
        card = self._card(retail, required=not is_return)
        if card is None and not is_return:
            return None
        currency = self._currency(retail)
        kept = self._netted(lines, currency)
        order_id = self._order_id(self.element, self.where)
        occurred_at = self._moment()
        items = tuple(self._item(line, number, currency) for _, number, line, minor in kept if minor > 0)
        total = self._total(retail, kept, currency, is_return)
        if is_return:
            original = self._original(retail, kept)
            if total.minor == 0:
                raise _Invalid(f"{self.where}.Total", "a return must be greater than zero")
            return Refund(order_id, original, occurred_at, total, card_number=card, items=items)
        return Sale(order_id, card, occurred_at, total, items)

    def _flagged(self, name: str) -> bool:
        return _flag(self.element, name, self.tags, f"{self.where}.{name}")

    def _lines(self, retail: Element) -> list[tuple[str, int, Element, bool]]:
        """The Sale and Return lines, with their LineItem's number (from 1, counting all) and whether VoidFlag is set."""
        lines = []
        for number, item in enumerate(retail.findall(self.tags("LineItem")), start=1):
            voided = _flag(item, "VoidFlag", self.tags, f"{self.where}.LineItem {number}.VoidFlag")
            for kind in ("Sale", "Return"):
                line = item.find(self.tags(kind))
                if line is not None:
                    lines.append((kind, number, line, voided))
        return lines

    def _netted(self, lines: list, currency: str) -> list[_Line]:
        """The lines that stand, each with its signed amount in minor units.

        A voided line with a positive amount is voided itself (ARTS); a
        voided line with a negative amount is the till's cancelling line
        (NCR ACS writes one), and takes back the latest standing line of
        the same item and amount. A negative line that voids nothing (a
        bottle deposit returned, a coupon) stands, and lowers the total.
        """
        kept: list[list] = []
        for kind, number, line, voided in lines:
            minor = self._signed(line, f"{self.where}.LineItem {number}", currency)
            if voided and minor >= 0:
                continue
            if voided:
                sku = _text(line, self.tags("ItemID"))
                match = next((entry for entry in reversed(kept) if entry[0] == kind and entry[3] == -minor
                              and _text(entry[2], self.tags("ItemID")) == sku), None)
                if match is not None:
                    kept.remove(match)
                    continue
            kept.append([kind, number, line, minor])
        return [tuple(entry) for entry in kept]

    def _card(self, retail: Element, *, required: bool) -> str | None:
        account = retail.find(self.tags("LoyaltyAccount"))
        if account is None:
            return self._membership(retail)
        card = _text(account, self.tags("LoyaltyAccountID"))
        if not card and not required:
            return None
        if not is_card_reference(card):
            raise _Invalid(f"{self.where}.LoyaltyAccountID", REFERENCE_ERROR)
        return card

    def _membership(self, retail: Element) -> str | None:
        """NCR ACS's own loyalty line (acs:LoyaltyMembership/acs:LoyaltyID): the till's member number, which the hub
        resolves as the partner's alias of a card."""
        for number, item in enumerate(retail.findall(self.tags("LineItem")), start=1):
            for child in item:
                if _local(child.tag) == "LoyaltyMembership":
                    found = next(((sub.text or "").strip() for sub in child if _local(sub.tag) == "LoyaltyID"), "")
                    if not is_card_reference(found):
                        raise _Invalid(f"{self.where}.LineItem {number}.LoyaltyID", REFERENCE_ERROR)
                    return found
        return None

    def _currency(self, retail: Element) -> str:
        code = _text(self.element, self.tags("CurrencyCode"))
        stated = {node.get("Currency").strip() for node in retail.iter() if node.get("Currency") is not None}
        if not code and len(stated) > 1:
            raise _Invalid(f"{self.where}.CurrencyCode", f"is required: the amounts name {', '.join(sorted(stated))}")
        if not code and not stated:
            raise _Invalid(f"{self.where}.CurrencyCode", "is required")
        code = code or next(iter(stated))
        if code not in CURRENCY_DECIMALS:
            raise _Invalid(f"{self.where}.CurrencyCode", f"{code!r} is not an ISO 4217 currency code")
        if stated - {code}:
            raise _Invalid(f"{self.where}.CurrencyCode", f"is {code} but amounts name {', '.join(sorted(stated - {code}))}")
        return code

    def _order_id(self, element: Element, where: str) -> str:
        tags = self.tags
        store = _text(element, tags("RetailStoreID")) or _text(element, tags("BusinessUnit", "UnitID"))
        parts = (
            _identifier(store, f"{where}.RetailStoreID"),
            _identifier(_text(element, tags("WorkstationID")), f"{where}.WorkstationID"),
            _identifier(_text(element, tags("SequenceNumber")), f"{where}.SequenceNumber"),
        )
        order_id = "-".join(parts)
        if len(order_id) > MAX_ID:
            raise _Invalid(f"{where}.SequenceNumber", f"makes the order id {order_id!r} longer than {MAX_ID} characters")
        return order_id

    def _moment(self) -> datetime:
        path = f"{self.where}.EndDateTime"
        text = _identifier(_text(self.element, self.tags("EndDateTime")), path)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _Invalid(path, f"{text!r} is not an ISO 8601 date and time") from None
        if moment.tzinfo is None:
            try:
                moment = moment.replace(tzinfo=ZoneInfo(self.zone_name))
            except (ZoneInfoNotFoundError, ValueError):
                raise _Invalid(path, f"has no UTC offset and the partner's time zone {self.zone_name!r} is unknown") from None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise _Invalid(path, f"{text!r} is out of range") from None

    def _item(self, line: Element, number: int, currency: str) -> LineItem:
        where = f"{self.where}.LineItem {number}"
        sku = _identifier(_text(line, self.tags("ItemID")), f"{where}.ItemID")
        category = _bounded(_text(line, self.tags("MerchandiseHierarchy")) or "", f"{where}.MerchandiseHierarchy") or None
        quantity = _quantity(_text(line, self.tags("Quantity")), f"{where}.Quantity")
        extended = self._extended(line, where, currency)
        regular = line.find(self.tags("RegularSalesUnitPrice"))
        if regular is not None and quantity != quantity.to_integral_value():  # weighed: so much a kilo, so many kilos
            return LineItem(sku, quantity, _amount(regular, f"{where}.RegularSalesUnitPrice", currency), category)
        unit = Decimal(extended.minor) / quantity
        if unit == unit.to_integral_value() and int(unit) * quantity == extended.minor:
            return LineItem(sku, quantity, Money(int(unit), currency), category)
        return LineItem(sku, Decimal(1), extended, category)

    def _extended(self, line: Element, where: str, currency: str) -> Money:
        amount = line.find(self.tags("ExtendedAmount"))
        if amount is None:
            raise _Invalid(f"{where}.ExtendedAmount", "is required")
        return _amount(amount, f"{where}.ExtendedAmount", currency, signed=True)

    def _signed(self, line: Element, where: str, currency: str) -> int:
        """A line's ExtendedAmount in minor units, negative where the till wrote it so."""
        minor = self._extended(line, where, currency).minor
        return -minor if (_text(line, self.tags("ExtendedAmount")) or "").startswith("-") else minor

    def _total(self, retail: Element, lines: list, currency: str, is_return: bool) -> Money:
        """What the customer paid before tax: the grand amount less the tax where the till gives both (after loyalty
        rewards and coupons, as NCR ACS writes them), else the net amount, else the standing lines' sum."""
        totals = {total.get("TotalType"): total for total in retail.findall(self.tags("Total"))}
        grand, tax = totals.get("TransactionGrandAmount"), totals.get("TransactionTaxAmount")
        if grand is not None:
            paid = _amount(grand, f"{self.where}.Total", currency, signed=is_return).minor
            taxed = _amount(tax, f"{self.where}.Total", currency, signed=is_return).minor if tax is not None else 0
            if taxed > paid:
                raise _Invalid(f"{self.where}.Total", "the tax is more than the grand amount")
            return Money(paid - taxed, currency)
        if "TransactionNetAmount" in totals:
            return _amount(totals["TransactionNetAmount"], f"{self.where}.Total", currency, signed=is_return)
        minor = sum(amount for *_, amount in lines)
        if minor < 0:
            raise _Invalid(f"{self.where}.LineItem", "the lines sum to less than zero")
        return Money(minor, currency)

    def _original(self, retail: Element, lines: list[_Line]) -> str:
        """The order the return takes back, from its lines' links or the RetailTransaction's own."""
        links = set()
        for _, number, line, _ in lines:
            link = line.find(self.tags("TransactionLink"))
            if link is not None:
                links.add(self._order_id(link, f"{self.where}.LineItem {number}.TransactionLink"))
        header = retail.find(self.tags("TransactionLink"))
        if not links and header is not None:
            return self._order_id(header, f"{self.where}.TransactionLink")
        if not links:
            raise _Invalid(f"{self.where}.TransactionLink", "is required for a return: it names the sale taken back "
                           "(RetailStoreID, WorkstationID, SequenceNumber)")
        if len(links) > 1:
            raise _Invalid(f"{self.where}.TransactionLink", f"the lines take back several sales ({', '.join(sorted(links))}); "
                           "send one return per original sale")
        (original,) = links
        return original


class PoslogAdapter:
    name = "poslog"
    content_types = ("application/xml", "text/xml")
    config_schema = None
    signed = False

    def read_rows(self, stream: IO[bytes], config: Mapping[str, Any], timezone: str) -> Iterator[Row]:
        """The log a transaction at a time, as it streams in (POST /v1/transactions/batch): a till that resends its
        growing log books each sale once (the ones booked before are duplicates), and a bad transaction is its own
        row's refusal while the others book. Row n is the file's n-th Transaction, as `parse` names them."""
        events = SafeElementTree.iterparse(stream, events=("start", "end"), forbid_dtd=True, forbid_entities=True,
                                           forbid_external=True)
        root, tags, depth, number = None, None, 0, 0
        try:
            for event, element in events:
                if event == "start":
                    depth += 1
                    if root is None:
                        root, tags = element, _root_tags(element)
                    continue
                depth -= 1
                if depth != 1 or element.tag != tags("Transaction"):
                    continue
                number += 1
                row = _row(element, number, tags, timezone)
                if row is not None:
                    yield row
                root.remove(element)  # read: let it go, so a long log never sits whole in memory
        except DefusedXmlException:
            raise UnreadablePayload("the body declares a DTD or entities; a POSLog needs none and they are refused") from None
        except (ParseError, ValueError) as exc:
            if root is None:
                raise UnreadablePayload(f"the body is not well-formed XML: {exc}") from None
            yield Row(number + 1, errors={"_file": [f"is not well-formed XML after transaction {number}: {exc}"]})

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        root, tags = _root(payload.body)
        transactions: list[Transaction] = []
        errors: dict[str, list[str]] = {}
        for number, element in enumerate(root.findall(tags("Transaction")), start=1):
            try:
                transaction = _TransactionReader(element, number, tags, payload.timezone).read()
            except _Invalid as exc:
                errors[exc.path] = [exc.reason]
                continue
            if transaction is not None:
                transactions.append(transaction)
        if errors:
            raise InvalidTransaction(errors, "Some transactions of the POSLog are invalid")
        return transactions


@hookimpl
def coalition_register_adapters():
    return [PoslogAdapter()]
