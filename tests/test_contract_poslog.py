"""The poslog adapter held to a real NCR ACS till log (tests/fixtures/poslog/README.md says whose).

The log is a store's own POSLog, as its till wrote it: a sign-on, a member's
sale (a weighed item, a card tender, NCR's loyalty membership line, loyalty
rewards, CRM variables by the dozen) and two sales to shoppers without a
card, one of them resumed from another till (its TransactionLink is no
return) with a Tax line. Only the member's sale earns. It is read whole,
booked through the hub under the till's own membership number, and mutated
at random: nothing but the adapter's two refusals ever comes out.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from partners.adapters import Payload, Row
from partners.errors import UnreadablePayload
from partners.money import Money
from partners.transactions import LineItem, Sale
from plugins.poslog import PoslogAdapter
from tests.support import fuzz
from tests.support.fuzz import FUZZ

LOG = (Path(__file__).parent / "fixtures" / "poslog" / "ncr_acs_log.xml").read_bytes()
ADAPTER = PoslogAdapter()
SEATTLE = "America/Los_Angeles"
MEMBER = "0000000000000040000066677"  # the till's own membership number (acs:LoyaltyID)
ET.register_namespace("", "http://www.nrf-arts.org/IXRetail/namespace/")
ET.register_namespace("acs", "http://www.ncr.com/rsd/acs/tlog/markup/poslog/2.1")

#: 0.42 lb of apples at 2.99 a pound (1.26), less a 0.19 loyalty reward: 1.07 paid, of which no tax.
SALE = Sale(order_id="9-34-161", card_number=MEMBER, occurred_at=datetime(2017, 10, 1, 9, 2, 54, tzinfo=timezone.utc),
            total=Money(107, "USD"), items=(LineItem("00000000067591", Decimal("0.42"), Money(299, "USD"), "6"),))


def test_only_the_members_sale_of_the_log_earns_on_what_was_paid_before_tax():
    assert ADAPTER.parse(Payload(LOG, "application/xml", timezone=SEATTLE), None) == [SALE]


def test_read_a_transaction_at_a_time_the_sale_is_the_logs_second_transaction():
    assert list(ADAPTER.read_rows(io.BytesIO(LOG), None, SEATTLE)) == [Row(2, SALE)]


# ---------------------------------------------------------------- through the hub


def test_the_log_books_the_members_sale_once_under_the_tills_membership_number(hub, clock, database):
    clock.now = datetime(2017, 10, 2, 12, tzinfo=timezone.utc)
    till = hub.create_partner("pcc-store-9", currency="USD", timezone=SEATTLE, adapter="poslog")
    member_id, card = hub.enrol(till)
    aliased = hub.call("PUT", f"/v1/card-aliases/{MEMBER}", till, json={"card_number": card})
    assert aliased.status_code == 200, aliased.json

    def send():
        answer = hub.call("POST", "/v1/transactions/batch", till, data=LOG, content_type="application/xml")
        assert answer.status_code == 200, answer.json
        return answer.json

    first = send()
    assert (first["accepted"], first["duplicates"], first["rejected_total"]) == (1, 0, 0)
    assert hub.points(card)["available"] == 1  # 1.07 USD at 1 point per USD
    assert [entry["order_id"] for entry in hub.history(member_id)["items"]] == ["9-34-161"]
    again = send()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert hub.points(card)["available"] == 1


# ---------------------------------------------------------------- the real log, mutated


TEXTS = st.text(max_size=12) | st.sampled_from(
    ["", "0", "-1", "0.42", "1.07", "-0.19", "99999999999999999999.999", "1e9", "true", "false", "USD", "JPY", "XXX",
     MEMBER, "7000000000000006", "2017-10-01T02:02:54", "2017-10-01T02:02:54-07:00", "0001-01-01T00:00:00+14:00",
     "\u202e\u00e9\U0001f34e", "9" * 300])
ATTRIBUTES = st.dictionaries(
    st.sampled_from(["CancelFlag", "VoidFlag", "TrainingModeFlag", "TotalType", "Currency", "TypeCode"]),
    st.sampled_from(["true", "false", "1", "yes", "TransactionGrandAmount", "TransactionTaxAmount",
                     "TransactionNetAmount", "USD", "EUR", "Return", ""]), max_size=2)


def xml_safe(text: str) -> str:
    return "".join(ch for ch in text if ch in "\t\n\r" or " " <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd")


def mutated(data) -> bytes:
    root = ET.fromstring(LOG)
    for _ in range(data.draw(st.integers(1, 6))):
        elements = list(root.iter())
        target = elements[data.draw(st.integers(0, len(elements) - 1))]
        parent = next((node for node in root.iter() if target in list(node)), None)
        action = data.draw(st.sampled_from(["text", "attribute", "remove", "duplicate", "nest"]))
        if action == "text":
            target.text = xml_safe(data.draw(TEXTS))
        elif action == "attribute":
            target.attrib.update(data.draw(ATTRIBUTES))
        elif parent is not None and action == "remove":
            parent.remove(target)
        elif parent is not None and action == "duplicate":
            parent.append(ET.fromstring(ET.tostring(target)))
        elif parent is not None:  # nest: the element inside copies of itself, many levels down
            wrapper = outer = ET.Element(target.tag)
            for _ in range(data.draw(st.integers(1, 30))):
                inner = ET.SubElement(wrapper, target.tag)
                wrapper = inner
            wrapper.append(target)
            parent.remove(target)
            parent.append(outer)
    return ET.tostring(root)


def read_or_refuse(body: bytes, tz: str) -> None:
    try:
        rows = list(ADAPTER.read_rows(io.BytesIO(body), None, tz))
    except UnreadablePayload:
        return
    for row in rows:
        assert row.number >= 1 and (row.transaction is None) != (row.errors is None)
        if row.errors:
            assert all(isinstance(path, str) and reasons for path, reasons in row.errors.items())
        else:
            fuzz.assert_valid([row.transaction])


@FUZZ
@given(data=st.data(), tz=st.sampled_from([SEATTLE, "UTC", "Nowhere"]))
def test_the_real_log_mutated_never_escapes_as_another_error(data, tz):
    body = mutated(data)
    fuzz.parse_or_refuse(ADAPTER, Payload(body, "application/xml", timezone=tz), None)
    read_or_refuse(body, tz)


@FUZZ
@given(cut=st.integers(0, len(LOG)), junk=st.binary(max_size=40))
def test_the_real_log_cut_short_or_spliced_never_escapes_as_another_error(cut, junk):
    body = LOG[:cut] + junk
    fuzz.parse_or_refuse(ADAPTER, Payload(body, "application/xml", timezone=SEATTLE), None)
    read_or_refuse(body, SEATTLE)
