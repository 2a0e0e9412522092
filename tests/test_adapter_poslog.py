"""The `poslog` adapter on ARTS POSLog files: exact figures, what is passed over, what is refused, hostile XML."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.adapters import BatchAdapter, Payload
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.money import Money
from partners.transactions import LineItem, Refund, Sale
from plugins.poslog import ARTS, PoslogAdapter
from tests.support import fuzz
from tests.support.fuzz import FUZZ

FIXTURES = Path(__file__).parent / "fixtures" / "poslog"
CARD = "7000000000000005"
adapter = PoslogAdapter()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def parse(body: bytes, tz: str = "Europe/Paris") -> list:
    return adapter.parse(Payload(body, "application/xml", timezone=tz), None)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sale(sku="4006381333931", quantity="1", amount="12.99", attributes=""):
    return (f"<LineItem{attributes}><Sale><ItemID>{sku}</ItemID><ExtendedAmount>{amount}</ExtendedAmount>"
            f"<Quantity>{quantity}</Quantity></Sale></LineItem>")


def link(sequence="4209"):
    return (f"<TransactionLink ReasonCode=\"Return\"><RetailStoreID>0031</RetailStoreID><WorkstationID>05</WorkstationID>"
            f"<SequenceNumber>{sequence}</SequenceNumber></TransactionLink>")


def return_line(sku="4006381333931", amount="12.99", linked=link()):
    return (f"<LineItem><Return><ItemID>{sku}</ItemID><ExtendedAmount>{amount}</ExtendedAmount>"
            f"<Quantity>1</Quantity>{linked}</Return></LineItem>")


def transaction(*lines, sequence="1", card=CARD, currency="<CurrencyCode>EUR</CurrencyCode>",
                end="2026-11-21T10:00:00Z", attributes="", header="", retail=""):
    loyalty = f"<LoyaltyAccount><LoyaltyAccountID>{card}</LoyaltyAccountID></LoyaltyAccount>" if card is not None else ""
    return (f"<Transaction{attributes}>{header}<RetailStoreID>0031</RetailStoreID><WorkstationID>02</WorkstationID>"
            f"<SequenceNumber>{sequence}</SequenceNumber><EndDateTime>{end}</EndDateTime>{currency}"
            f"<RetailTransaction>{''.join(lines)}{retail}{loyalty}</RetailTransaction></Transaction>")


def poslog(*transactions, namespace=ARTS) -> bytes:
    declared = f' xmlns="{namespace}"' if namespace else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><POSLog{declared}>{"".join(transactions)}</POSLog>'.encode()


def refusal(body: bytes) -> dict:
    with pytest.raises(InvalidTransaction) as caught:
        parse(body)
    return caught.value.fields


def test_the_adapter_reads_xml_whole_or_a_transaction_at_a_time():
    assert (adapter.name, adapter.content_types, adapter.config_schema, adapter.signed) == (
        "poslog", ("application/xml", "text/xml"), None, False)
    assert isinstance(adapter, BatchAdapter)  # POST /v1/transactions/batch: each transaction its own row


def test_namespaced_log_sale_cancelled_and_return_with_exact_figures():
    assert parse(fixture("day_namespaced.xml"), "Europe/Paris") == [
        Sale(
            order_id="0031-05-4209",
            card_number=CARD,
            occurred_at=utc(2026, 11, 21, 15, 5, 42),
            total=Money(2835, "EUR"),
            items=(
                LineItem("4006381333931", Decimal("2"), Money(1299, "EUR"), "COFFEE"),
                # 0.750 kg for 3.37 is no whole number of cents a kilo: one line at 3.37.
                LineItem("2100450007509", Decimal("1"), Money(337, "EUR"), "DELI"),
            ),
        ),
        Refund(
            order_id="0031-02-1187",
            original_order_id="0031-05-4209",
            occurred_at=utc(2026, 11, 21, 16, 30),
            total=Money(1299, "EUR"),
            card_number=CARD,
            items=(LineItem("4006381333931", Decimal("1"), Money(1299, "EUR"), "COFFEE"),),
        ),
    ]


def test_log_without_namespace_with_currency_on_the_amounts_and_no_total():
    assert parse(fixture("day_plain.xml"), "Europe/London") == [
        Sale(
            order_id="214-3-2",
            card_number="7987654321098762",
            occurred_at=utc(2026, 11, 21, 8, 13, 5),
            total=Money(460, "GBP"),
            items=(
                LineItem("5000112637922", Decimal("3"), Money(150, "GBP"), "DRINKS"),
                LineItem("BAG-LIFE", Decimal("1"), Money(10, "GBP"), None),
            ),
        )
    ]


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_entities_are_refused_before_they_are_expanded(name):
    started = time.perf_counter()
    with pytest.raises(UnreadablePayload) as caught:
        parse(fixture(name))
    assert time.perf_counter() - started < 1
    assert str(caught.value) == "the body declares a DTD or entities; a POSLog needs none and they are refused"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (fixture("truncated.xml"), "the body is not well-formed XML: unclosed token"),
        (fixture("wrong_root.xml"),
         "the root element is '{http://www.nrf-arts.org/IXRetail/namespace}CardServiceRequest', not an ARTS POSLog"),
        (b'<POSLog xmlns="urn:someone-else"/>', "the root element is '{urn:someone-else}POSLog', not an ARTS POSLog"),
        (b'{"Transaction": {}}', "the body is not well-formed XML: not well-formed (invalid token)"),
        (b"", "the body is not well-formed XML: no element found"),
    ],
)
def test_a_body_that_is_not_a_poslog_is_unreadable(body, message):
    with pytest.raises(UnreadablePayload) as caught:
        parse(body)
    assert str(caught.value).startswith(message)


def test_what_books_nothing_is_passed_over():
    body = poslog(
        transaction(sale(), sequence="1", attributes=' CancelFlag="true"'),
        transaction(sale(), sequence="2", header="<CancelFlag>true</CancelFlag>"),
        transaction(sale(), sequence="3", attributes=' TrainingModeFlag="1"'),
        transaction(sale(), sequence="4", card=None),
        transaction(sale(attributes=' VoidFlag="true"'), sequence="5"),
        transaction("<LineItem><Tender><Amount>5.00</Amount></Tender></LineItem>", sequence="6"),
        '<Transaction><RetailStoreID>0031</RetailStoreID><ControlTransaction><NoSale/></ControlTransaction></Transaction>',
        transaction(sale(), sequence="8", attributes=' CancelFlag="false"'),
    )
    (booked,) = parse(body)
    assert booked.order_id == "0031-02-8"


def test_a_return_may_carry_its_link_on_the_retail_transaction_and_its_total_negative():
    body = poslog(transaction(return_line(linked=""), retail=link("77") + '<Total TotalType="TransactionNetAmount">-12.990</Total>'))
    (refund,) = parse(body)
    assert (refund.original_order_id, refund.total) == ("0031-05-77", Money(1299, "EUR"))


def test_a_refund_needs_no_card():
    (refund,) = parse(poslog(transaction(return_line(), card=None)))
    assert refund.card_number is None


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (poslog(transaction(return_line(linked=""))),
         {"Transaction 1.TransactionLink": ["is required for a return: it names the sale taken back "
                                            "(RetailStoreID, WorkstationID, SequenceNumber)"]}),
        (poslog(transaction(return_line(linked=link("1")), return_line(linked=link("2")))),
         {"Transaction 1.TransactionLink": ["the lines take back several sales (0031-05-1, 0031-05-2); "
                                            "send one return per original sale"]}),
        (poslog(transaction(return_line(linked=link("")))),
         {"Transaction 1.LineItem 1.TransactionLink.SequenceNumber": ["is required"]}),
        (poslog(transaction(sale(), return_line())),
         {"Transaction 1.RetailTransaction": ["holds both Sale and Return lines (an exchange); "
                                              "send the return and the new sale as two transactions"]}),
        (poslog(transaction(sale(), card="7" * 129)),
         {"Transaction 1.LoyaltyAccountID": ["is neither a card number (16 digits with a Luhn check digit) nor a "
                                             "loyalty number of 1 to 128 characters"]}),
        (poslog(transaction(sale(), currency="")), {"Transaction 1.CurrencyCode": ["is required"]}),
        (poslog(transaction(sale(amount='<Amount Currency="USD">1</Amount>1.00'), sale(amount='<Amount Currency="EUR">1</Amount>2'),
                            currency="")),
         {"Transaction 1.CurrencyCode": ["is required: the amounts name EUR, USD"]}),
        (poslog(transaction(sale(amount='<Amount Currency="USD">1</Amount>1.00'))),
         {"Transaction 1.CurrencyCode": ["is EUR but amounts name USD"]}),
        (poslog(transaction(sale(amount="12.999"))),
         {"Transaction 1.LineItem 1.ExtendedAmount": ["EUR has 2 decimals; '12.999' has 3"]}),
        (poslog(transaction(sale(quantity="-2"))),
         {"Transaction 1.LineItem 1.Quantity": ["'-2' is not a positive decimal quantity"]}),
        (poslog(transaction(sale(quantity="0.000"))),
         {"Transaction 1.LineItem 1.Quantity": ["'0.000' is not a positive quantity of at most 12 digits and 6 decimals"]}),
        (poslog(transaction(sale(sku=""))), {"Transaction 1.LineItem 1.ItemID": ["is required"]}),
        (poslog(transaction(sale(), end="21/11/2026 10:00")),
         {"Transaction 1.EndDateTime": ["'21/11/2026 10:00' is not an ISO 8601 date and time"]}),
        (poslog(transaction(sale(), attributes=' CancelFlag="maybe"')),
         {"Transaction 1.CancelFlag": ["'maybe' is neither true nor false"]}),
        (poslog(transaction(sale(), sequence="9" * 250)),
         {"Transaction 1.SequenceNumber": [f"makes the order id '0031-02-{'9' * 250}' longer than 255 characters"]}),
        (poslog(transaction(return_line(amount="0.00"))), {"Transaction 1.Total": ["a return must be greater than zero"]}),
    ],
)
def test_a_bad_transaction_names_its_field(body, fields):
    assert refusal(body) == fields


def test_one_bad_transaction_refuses_the_file_and_only_it_is_named():
    body = poslog(transaction(sale(), sequence="1"), transaction(sale(), sequence="2", card="7" * 129),
                  transaction(sale(), sequence="3"))
    assert list(refusal(body)) == ["Transaction 2.LoyaltyAccountID"]


def test_a_time_without_offset_is_in_the_partners_time_zone():
    body = poslog(transaction(sale(), end="2026-07-14T10:00:00"))
    assert parse(body, "Europe/Paris")[0].occurred_at == utc(2026, 7, 14, 8)
    with pytest.raises(InvalidTransaction) as caught:
        parse(body, "Nowhere/Atlantis")
    assert caught.value.fields == {
        "Transaction 1.EndDateTime": ["has no UTC offset and the partner's time zone 'Nowhere/Atlantis' is unknown"]}


def test_the_arts_namespace_without_its_trailing_slash_is_the_same_format():
    (booked,) = parse(poslog(transaction(sale()), namespace=ARTS.rstrip("/")))
    assert booked.total == Money(1299, "EUR")


def test_an_empty_log_books_nothing():
    assert parse(poslog()) == []


# ------------------------------------------------------------------ fuzzing


def parse_or_refuse(body: bytes, tz: str = "Europe/Paris") -> None:
    fuzz.parse_or_refuse(adapter, Payload(body, "application/xml", timezone=tz), None)


NAMES = ["POSLog", "Transaction", "RetailTransaction", "LineItem", "Sale", "Return", "ItemID", "Quantity",
         "RegularSalesUnitPrice", "LoyaltyMembership", "LoyaltyID",
         "ExtendedAmount", "Total", "TransactionLink", "RetailStoreID", "WorkstationID", "SequenceNumber",
         "EndDateTime", "CurrencyCode", "LoyaltyAccount", "LoyaltyAccountID", "MerchandiseHierarchy", "CancelFlag",
         "BusinessUnit", "UnitID"]
TEXTS = st.text(max_size=10) | st.sampled_from(
    ["", "1", "0", "-1", "0.750", "12.99", "-12.99", "true", "false", "EUR", "JPY", "XXX", CARD, "7000000000000006",
     "2026-11-21T10:00:00", "2026-11-21T10:00:00+01:00", "0001-01-01T00:00:00+14:00", "9" * 70])
ATTRIBUTES = st.dictionaries(st.sampled_from(["CancelFlag", "VoidFlag", "TotalType", "Currency", "TrainingModeFlag"]),
                             st.sampled_from(["true", "false", "1", "TransactionNetAmount", "TransactionGrandAmount",
                                              "TransactionTaxAmount", "EUR", "USD", "?"]), max_size=2)


def trees(namespace: str):
    tag = st.sampled_from(NAMES).map(lambda name: f"{{{namespace}}}{name}" if namespace else name)

    def element(children):
        return st.builds(make, tag, ATTRIBUTES, TEXTS, st.lists(children, max_size=4))

    leaf = st.builds(make, tag, ATTRIBUTES, TEXTS, st.just([]))
    return st.builds(make, st.just(f"{{{namespace}}}POSLog" if namespace else "POSLog"), st.just({}), st.just(""),
                     st.lists(st.recursive(leaf, element, max_leaves=25), max_size=3))


def make(tag, attributes, text, children) -> ET.Element:
    element = ET.Element(tag, attributes)
    element.text = text
    element.extend(children)
    return element


def xml_safe(text: str) -> bool:
    return all(ch in "\t\n\r" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd" for ch in text)


def read_or_refuse(body: bytes, tz: str = "Europe/Paris") -> None:
    """A transaction at a time: every row a valid transaction or named errors, else the whole log unreadable."""
    import io

    try:
        read = list(adapter.read_rows(io.BytesIO(body), None, tz))
    except UnreadablePayload:
        return
    for row in read:
        assert row.number >= 1 and (row.transaction is None) != (row.errors is None)
        if row.errors:
            assert all(isinstance(path, str) and reasons for path, reasons in row.errors.items())
        else:
            fuzz.assert_valid([row.transaction])


@FUZZ
@given(body=st.binary(max_size=400))
def test_fuzz_random_bytes(body):
    parse_or_refuse(body)
    read_or_refuse(body)


@FUZZ
@given(text=st.text(max_size=300))
def test_fuzz_random_text(text):
    parse_or_refuse(b'<?xml version="1.0"?>' + text.encode())


@FUZZ
@given(data=st.data(), namespace=st.sampled_from([ARTS, ""]))
def test_fuzz_random_poslog_shapes(data, namespace):
    root = data.draw(trees(namespace))
    for element in root.iter():
        if not xml_safe(element.text or ""):
            element.text = ""
    parse_or_refuse(ET.tostring(root))
    read_or_refuse(ET.tostring(root))


@FUZZ
@given(data=st.data(), name=st.sampled_from(["day_namespaced.xml", "day_plain.xml"]), mutations=st.integers(1, 5))
def test_fuzz_mutated_fixtures(data, name, mutations):
    root = ET.fromstring(fixture(name))
    for _ in range(mutations):
        elements = list(root.iter())
        target = elements[data.draw(st.integers(0, len(elements) - 1))]
        action = data.draw(st.sampled_from(["text", "attribute", "remove", "duplicate"]))
        if action == "text":
            text = data.draw(TEXTS)
            target.text = text if xml_safe(text) else ""
        elif action == "attribute":
            target.attrib.update(data.draw(ATTRIBUTES))
        else:
            parents = [parent for parent in root.iter() if target in list(parent)]
            if parents and action == "remove":
                parents[0].remove(target)
            elif parents:
                parents[0].append(ET.fromstring(ET.tostring(target)))
    parse_or_refuse(ET.tostring(root), data.draw(st.sampled_from(["Europe/Paris", "UTC", "Nowhere"])))


# ------------------------------------------------------------------ an NCR ACS till's own shapes

NCR_MEMBER = "0000000000000040000066677"


def test_an_ncr_log_earns_on_what_the_member_paid_before_tax_with_voids_deposits_and_weights_as_written():
    first, second = parse(fixture("ncr_acs_day.xml"), "America/New_York")
    # 0.42 lb of apples at 2.99 and a soup, less a 0.73 loyalty reward: 4.02 paid, no tax.
    assert (first.order_id, first.card_number, first.total) == ("9-34-161", NCR_MEMBER, Money(402, "USD"))
    assert first.items == (LineItem("00000000067591", Decimal("0.42"), Money(299, "USD"), "6"),
                           LineItem("00000000090162", Decimal("1"), Money(349, "USD"), "17"))
    # 5.99 scanned and voided by its own negative line, 9.28 bought, a 2.00 deposit back: 8.22 paid of which 0.94 tax.
    assert (second.order_id, second.total) == ("9-31-114", Money(728, "USD"))
    assert second.items == (LineItem("00859665002665", Decimal("1"), Money(928, "USD"), "29"),)
    assert second.occurred_at == utc(2017, 10, 1, 19, 15, 25)


def test_a_void_without_its_original_line_stands_as_a_negative_line():
    body = poslog(transaction(sale(amount="10.00"), sale(sku="OTHER", amount="-3.00", attributes=' VoidFlag="true"')))
    (booked,) = parse(body)
    assert booked.total == Money(700, "EUR") and [item.sku for item in booked.items] == ["4006381333931"]


def rows(body: bytes, tz: str = "Europe/Paris") -> list:
    import io

    return list(adapter.read_rows(io.BytesIO(body), None, tz))


def test_read_a_transaction_at_a_time_a_bad_one_is_its_own_row_and_the_others_come_through():
    body = poslog(transaction(sale(), sequence="1"), transaction(sale(), sequence="2", card="7" * 129),
                  transaction(sale(), sequence="3", card=None), transaction(sale(), sequence="4"))
    read = rows(body)
    assert [(row.number, row.transaction.order_id if row.transaction else None) for row in read] == [
        (1, "0031-02-1"), (2, None), (4, "0031-02-4")]  # 3 is a stranger's sale: nothing to book
    assert list(read[1].errors) == ["Transaction 2.LoyaltyAccountID"]
    assert [row.transaction for row in rows(fixture("ncr_acs_day.xml"), "America/New_York")] == parse(
        fixture("ncr_acs_day.xml"), "America/New_York")


def test_a_log_cut_off_mid_transaction_books_what_came_whole_and_says_where_it_broke():
    body = poslog(transaction(sale(), sequence="1"), transaction(sale(), sequence="2"))
    read = rows(body[: body.index(b"<SequenceNumber>2") + 5])
    assert read[0].transaction.order_id == "0031-02-1" and read[1].number == 2 and list(read[1].errors) == ["_file"]
    for hostile in ("billion_laughs.xml", "external_entity.xml", "wrong_root.xml"):
        with pytest.raises(UnreadablePayload):
            rows(fixture(hostile))
