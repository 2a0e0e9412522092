"""examples/coalition-fuelstation, installed as a partner's developer installs it, driven through the hub.

The example is built with pip into a directory of this run's own and put on
sys.path, so the hub finds it by its entry point alone: nothing here
registers it in code. If the tutorial's package stops working against the
hub, these tests say so.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from network import create_app
from partners.adapters import Payload
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.money import Money
from partners.plugins import adapters, describe, make_plugin_manager, rules
from partners.transactions import LineItem, Refund, Sale
from tests.support.hub import ADMIN_TOKEN, HubClient
from tests.support.ledger import snapshot

EXAMPLE = Path(__file__).parent.parent / "examples" / "coalition-fuelstation"
SHIFT = (EXAMPLE / "samples" / "shift.log").read_text()
#: The two loyalty cards of the sample log, replaced by the cards the hub issues.
ANN, BOB = "7012345678901232", "7000987654321010"
RULES = [{"rule": "base_rate", "rate": "1"}, {"rule": "per_litre", "points": "2"}]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-install a copy of the example (each xdist worker its own) and make its entry point visible."""
    source = tmp_path_factory.mktemp("fuelstation-source") / "coalition-fuelstation"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("fuelstation-site")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(source)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(target))
        yield target
    for name in [name for name in sys.modules if name.split(".")[0] == "coalition_fuelstation"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def adapter(installed):
    return importlib.import_module("coalition_fuelstation.pump_log").FuelstationAdapter()


@pytest.fixture
def hub(installed, database, clock) -> HubClient:
    clock.now = datetime(2026, 11, 20, 13, 5, tzinfo=timezone.utc)  # the shift's log, posted after the shift
    app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock})
    return HubClient(app.test_client(), ADMIN_TOKEN)


@pytest.fixture
def station(hub):
    """A station partner with the rules of the tutorial, and its two card-holding customers."""
    key = hub.create_partner("relais-lyon", adapter="fuelstation", adapter_config={"stations": ["FR-LYON-0042"]},
                             rules=RULES)
    ann_id, ann = hub.enrol(key, name="Ann")
    bob_id, bob = hub.enrol(key, name="Bob")
    return key, (ann_id, ann), (bob_id, bob)


def post_log(hub: HubClient, key: str, log: str, content_type: str = "text/plain"):
    return hub.call("POST", "/v1/transactions", key, data=log.encode(), content_type=content_type)


def with_cards(log: str, ann: str, bob: str) -> str:
    return log.replace(ANN, ann).replace(BOB, bob)


def parse(adapter, log: str | bytes, config: dict | None = None, tz: str = "Europe/Paris"):
    body = log.encode() if isinstance(log, str) else log
    return adapter.parse(Payload(body, "text/plain", {}, tz), config or {})


# ---------------------------------------------------------------- through the hub


def test_the_package_arrives_through_its_entry_point_with_its_distribution(installed):
    pm = make_plugin_manager(blocked=[])
    assert "fuelstation" in adapters(pm) and "per_litre" in rules(pm)
    (info,) = [info for info in describe(pm) if info.name == "fuelstation"]
    assert (info.distribution, info.version) == ("coalition-fuelstation", "0.1.0")
    assert info.hooks == ("coalition_register_adapters", "coalition_register_rules")
    assert info.provides == ("adapter:fuelstation", "rule:per_litre")


def test_a_pump_log_books_each_card_fill_with_its_awards_and_the_refund_claws_back_rule_by_rule(hub, station):
    key, (ann_id, ann), (bob_id, bob) = station
    booked = post_log(hub, key, with_cards(SHIFT, ann, bob))
    assert booked.status_code == 201, booked.json
    per_litre = "2 points per litre of fuel"
    results = booked.json["transactions"]  # the fill without a card (line 5) books nothing
    assert [(r["points"], r["awards"]) for r in results] == [
        # 71.56 EUR: 71 base; 42.37 l x 2 = 84.74 -> 84
        (155, [{"rule": "base_rate", "points": 71, "detail": "1 point per unit spent"},
               {"rule": "per_litre", "points": 84, "detail": per_litre}]),
        # 34.94 EUR: 34 base; 18.40 l x 2 = 36.8 -> 36
        (70, [{"rule": "base_rate", "points": 34, "detail": "1 point per unit spent"},
              {"rule": "per_litre", "points": 36, "detail": per_litre}]),
        # Bob, 44.27 EUR: 44 base; 24.61 l x 2 = 49.22 -> 49
        (93, [{"rule": "base_rate", "points": 44, "detail": "1 point per unit spent"},
              {"rule": "per_litre", "points": 49, "detail": per_litre}]),
        # 16.89 of 71.56 EUR refunded: floor(71 x 1689/7156) = 16 and floor(84 x 1689/7156) = 19
        (-35, [{"rule": "base_rate", "points": -16, "detail": "1 point per unit spent"},
               {"rule": "per_litre", "points": -19, "detail": per_litre}]),
    ]
    assert hub.balance(ann, key)["available"] == 155 + 70 - 35
    assert hub.balance(bob, key)["available"] == 93

    entries = hub.history(ann_id, key)["items"]
    assert [(e["kind"], e["order_id"], e["points"]) for e in entries] == [
        ("refund", "FR-LYON-0042:000191", -35), ("earn", "FR-LYON-0042:000189", 70), ("earn", "FR-LYON-0042:000187", 155),
    ]
    assert entries[0]["awards"] == results[3]["awards"]
    assert entries[2]["awards"] == results[0]["awards"]


def test_the_same_log_sent_twice_books_nothing_the_second_time(hub, station, database):
    key, (_, ann), (_, bob) = station
    log = with_cards(SHIFT, ann, bob)
    assert post_log(hub, key, log).status_code == 201
    before = snapshot(database)
    again = post_log(hub, key, log)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "duplicate_order"
    assert snapshot(database) == before


def test_per_litre_counts_only_its_grades(hub, station):
    key, (_, ann), (_, bob) = station
    hub.put_rules("relais-lyon", [{"rule": "base_rate", "rate": "1"},
                                  {"rule": "per_litre", "points": "0.5", "grades": ["DIESEL"]}])
    booked = post_log(hub, key, with_cards(SHIFT, ann, bob)).json["transactions"]
    # DIESEL: 42.37 l x 0.5 = 21.185 -> 21; SP98 and SP95-E10 earn the base rate alone.
    assert booked[0]["awards"][1] == {"rule": "per_litre", "points": 21, "detail": "0.5 points per litre of DIESEL"}
    assert [len(result["awards"]) for result in booked[1:3]] == [1, 1]


def test_a_malformed_log_is_refused_whole_naming_each_line_and_the_ledger_is_unchanged(hub, station, database):
    key, (_, ann), (_, bob) = station
    post_log(hub, key, f"#PUMPLOG v1 station=FR-LYON-0042\nTXN|000100|2026-11-20T06:58:00+01:00|PUMP01|{ann}|DIESEL|"
                       "10.00|1.689|16.89|EUR\n")
    lines = with_cards(SHIFT, ann, bob).splitlines()
    lines[5] = lines[5].replace("|18.40|", "|18,40|")
    lines[6] = lines[6].replace("|44.27|", "|42.27|")
    before = snapshot(database)
    refused = post_log(hub, key, "\n".join(lines) + "\n")
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "invalid_transaction"
    assert refused.json["error"]["details"] == {
        "line 6.litres": ["must be a decimal such as 42.37 (at most 3 decimals)"],
        "line 7.amount": ["42.27 is not litres x price per litre: 24.61 x 1.799 = 44.27339"],
    }
    assert snapshot(database) == before
    assert hub.balance(ann, key)["available"] == 16 + 20


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (SHIFT, "text/csv", 415, "unsupported_media_type"),
        ("TXN|000187|2026-11-20T07:42:10+01:00\n", "text/plain", 400, "unreadable_body"),
        ("#PUMPLOG v1 station=FR-PARIS-0007\n", "text/plain", 422, "invalid_transaction"),
    ],
)
def test_what_is_not_this_partners_pump_log_is_refused(hub, station, database, body, content_type, status, code):
    key, _, _ = station
    before = snapshot(database)
    refused = post_log(hub, key, body, content_type)
    assert (refused.status_code, refused.json["error"]["code"]) == (status, code)
    assert snapshot(database) == before


def test_the_adapter_reads_no_batch_files(hub, station):
    key, _, _ = station
    refused = hub.call("POST", "/v1/transactions/batch", key, data=SHIFT.encode(), content_type="text/plain")
    assert (refused.status_code, refused.json["error"]["code"]) == (415, "batch_not_supported")


def test_adapter_config_and_rule_parameters_are_checked_by_the_plugins_own_schemas(hub):
    created = hub.call("POST", "/v1/partners", json={
        "slug": "relais-nord", "name": "Relais Nord", "timezone": "Europe/Paris", "currency": "EUR",
        "adapter": "fuelstation", "adapter_config": {"stations": ["fr lyon 42"], "station": "FR-LYON-0042"},
    })
    assert created.status_code == 422
    assert created.json["error"]["details"] == {
        "adapter_config.stations.0": ["must be 1-24 capital letters, digits or dashes"],
        "adapter_config.station": ["Unknown field."],
    }
    hub.create_partner("relais-sud", adapter="fuelstation")
    bad = hub.call("PUT", "/v1/partners/relais-sud/rules", json=[
        {"rule": "per_litre", "points": 2}, {"rule": "per_litre", "points": "500", "grades": ["DIESEL", "DIESEL"]},
    ])
    assert bad.status_code == 422
    assert bad.json["error"]["details"] == {
        "rules.0.points": ['must be a decimal string such as "1.5"'],
        "rules.1.points": ["must be more than 0 and at most 100 points per litre"],
        "rules.1.grades": ["must not name a grade twice"],
    }


# ---------------------------------------------------------------- the parser alone

HEADER = "#PUMPLOG v1 station=FR-LYON-0042\n"


def test_each_card_fill_is_a_sale_of_one_fuel_line_whose_money_is_exact(adapter):
    sale, *_ = parse(adapter, SHIFT)
    assert sale == Sale(
        "FR-LYON-0042:000187", ANN, datetime.fromisoformat("2026-11-20T07:42:10+01:00"), Money(7156, "EUR"),
        (LineItem("DIESEL", Decimal("42.37"), Money(7156, "EUR"), "fuel"),),
    )
    refund = parse(adapter, SHIFT)[-1]
    assert refund == Refund("FR-LYON-0042:000191", "FR-LYON-0042:000187",
                            datetime.fromisoformat("2026-11-20T08:15:40+01:00"), Money(1689, "EUR"), ANN)


def test_a_time_without_offset_is_the_partners_local_time_and_a_log_of_comments_books_nothing(adapter):
    (sale,) = parse(adapter, HEADER + f"TXN|7|2026-07-01T12:00:00|P1|{ANN}|LPG|20|0.999|19.98|EUR\n")
    assert sale.occurred_at.isoformat() == "2026-07-01T12:00:00+02:00"
    assert parse(adapter, HEADER + "# the station was closed\n\n") == []
    with pytest.raises(InvalidTransaction) as caught:
        parse(adapter, HEADER + f"TXN|7|2026-07-01T12:00:00|P1|{ANN}|LPG|20|0.999|19.98|EUR\n", tz="Mars/Olympus")
    assert caught.value.fields == {"line 2.time": ["has no UTC offset and the partner's time zone 'Mars/Olympus' is unknown"]}


@pytest.mark.parametrize(
    ("log", "config", "fields"),
    [
        ("#PUMPLOG v2 station=X\n", {}, {"line 1.version": ["this adapter reads v1 pump logs"]}),
        ("#PUMPLOG v1 stn=X\n", {}, {"line 1.station": ["must be station=<id>: 1-24 capital letters, digits or dashes"]}),
        (SHIFT.replace("\n", ""), {},  # what `curl -d @shift.log` sends
         {"line 1": ["'TXN|txn_id|time|pump|card|grade|litres|p' is not a key=value setting; is the log on one line? "
                     "(curl -d drops line breaks: send the file with --data-binary)"]}),
        (SHIFT, {"stations": ["FR-LYON-0001"]},
         {"line 1.station": ["FR-LYON-0042 is not one of this partner's stations: FR-LYON-0001"]}),
        (HEADER + "SALE|1\n", {}, {"line 2.type": ["'SALE' is not a line type: TXN (a fill) or RFD (a refund)"]}),
        (HEADER + f"TXN|1|2026-11-20T07:00:00Z|P1|{ANN}|DIESEL|1|1.5|1.50\n", {},
         {"line 2": ["has 9 fields; a TXN line has 10: type|txn_id|time|pump|card|grade|litres|price_per_litre|amount|"
                     "currency"]}),
        (HEADER + "TXN|1|2026-02-30T07:00:00Z|pump 1|7012345678901238|Diesel|0|1.5|1.505|EUR\n", {}, {
            "line 2.time": ["2026-02-30T07:00:00Z is not a real date and time"],
            "line 2.pump": ["must be 1-8 capital letters or digits, such as PUMP04"],
            "line 2.card": ["is not a loyalty card number (16 digits with a Luhn check digit); leave it empty for a fill "
                            "without a card"],
            "line 2.grade": ["must be 1-16 capital letters, digits, _ or -, such as DIESEL or SP95-E10"],
            "line 2.litres": ["must be greater than zero"],
            "line 2.amount": ["EUR has 2 decimals; '1.505' has 3"],
        }),
        (HEADER + "RFD|2|2026-11-20T07:00:00Z|P1||DIESEL|1|1.5|1.50|XYZ|\n",
         {}, {"line 2.currency": ["'XYZ' is not an ISO 4217 currency code"],
              "line 2.original_txn_id": ["must be 1-24 letters, digits or dashes"]}),
        (HEADER + f"TXN|9|2026-11-20T07:00:00Z|P1|{ANN}|DIESEL|1|1.5|1.50|EUR\n"
                  f"TXN|9|2026-11-20T07:05:00Z|P2||DIESEL|2|1.5|3.00|EUR\n", {},
         {"line 3.txn_id": ["repeats transaction 9 of line 2"]}),
    ],
)
def test_every_bad_field_is_named_by_line(adapter, log, config, fields):
    with pytest.raises(InvalidTransaction) as caught:
        parse(adapter, log, config)
    assert caught.value.fields == fields


def test_bytes_that_are_not_utf8_spoil_only_their_line(adapter):
    with pytest.raises(InvalidTransaction) as caught:
        parse(adapter, HEADER.encode() + b"TXN|1|caf\xe9\n")
    assert caught.value.fields == {"line 2": ["is not UTF-8 text"]}


@pytest.mark.parametrize("body", [b"", b"\xff\xfe#PUMPLOG", b"date,card,total\n", b'{"type": "sale"}'])
def test_a_body_that_is_no_pump_log_is_unreadable(adapter, body):
    with pytest.raises(UnreadablePayload, match="^not a pump log: the first line must be the header"):
        parse(adapter, body)


def _parses_or_refuses(adapter, body: bytes, tz: str = "Europe/Paris") -> None:
    try:
        found = parse(adapter, body, tz=tz)
    except (InvalidTransaction, UnreadablePayload):
        return
    assert all(isinstance(t, (Sale, Refund)) for t in found)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cells = st.sampled_from(["", "TXN", "RFD", "|", "0", "1.689", "42.37", "EUR", "JPY", "2026-11-20T07:42:10+01:00",
                         "2026-11-20T07:42:10", ANN, "DIESEL", "\x00", "é", "#", "-1", "99999.9999"]) | st.text(max_size=10)


@FUZZ
@given(body=st.binary(max_size=300))
def test_fuzz_random_bytes(adapter, body):
    _parses_or_refuses(adapter, body)
    _parses_or_refuses(adapter, HEADER.encode() + body)


@FUZZ
@given(rows=st.lists(st.lists(cells, max_size=12).map("|".join), max_size=6),
       tz=st.sampled_from(["UTC", "Europe/Paris", "Nowhere", ""]))
def test_fuzz_random_lines(adapter, rows, tz):
    _parses_or_refuses(adapter, (HEADER + "\n".join(rows)).encode("utf-8", "surrogatepass"), tz)


@FUZZ
@given(data=st.data(), mutations=st.integers(1, 4))
def test_fuzz_mutations_of_the_sample_log(adapter, data, mutations):
    lines = [line.split("|") for line in SHIFT.splitlines()]
    for _ in range(mutations):
        line = data.draw(st.integers(0, len(lines) - 1))
        position = data.draw(st.integers(0, max(len(lines[line]) - 1, 0)))
        action = data.draw(st.sampled_from(["replace", "drop", "add"] if lines[line] else ["add"]))
        if action == "replace":
            lines[line][position] = data.draw(cells)
        elif action == "drop":
            del lines[line][position]
        else:
            lines[line].insert(position, data.draw(cells))
    _parses_or_refuses(adapter, "\n".join("|".join(line) for line in lines).encode("utf-8", "surrogatepass"))
