"""`coalition demo`: a small network built over real HTTP, reported for partners, members and finance.

The demo runs once for the module (the `demo` fixture keeps its output and
its database); each test reads the figures it printed, the files it saved and
the database it left.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from network import create_app
from network.cli import main
from network.demo import finance, life, partners
from network.demo.client import serving
from network.demo.stage import DemoClock, Stage
from network.ledger.invariants import CHECKS, check
from settlement.verify import VerificationFailed
from settlement.verify import check as verify
from tests.support.hub import ADMIN_TOKEN
from tests.support.pages import sign_in

MEMBERS, SALES = 10, 60
#: Sales of the member-life scenes, besides the tills' 60, Shopify's 4 and the bookshop's 34: one at the bike shop,
#: two at Green Grocer, one fill-up at Fuel Stop.
LIFE_SALES = 4
ALL_SALES = SALES + 4 + 34 + LIFE_SALES
#: What the member-life scenes print, in order, with their exact figures (the dates depend on the day the demo runs).
MEMBER_LIFE = (
    # Pending points: pending at the sale, available once the return window has passed, by the balance read alone.
    'pending', 'Cycle Works (bike shop) joins with "pending_days": 14; Noor Haddad buys a helmet and lights, 149.90 EUR: '
               '+149 points, available 0, pending 149',
    '14 days later, the return window over, GET /v1/cards/<card>/balance alone shows available 149, pending 0',
    'she spends 100 at Brew Bar (POST /v1/redemptions): available 49, pending 0',
    # Expiry: the balance says what expires when; the warning job, then the expiry job, run twice.
    'expiry', "the balance's expiring: 49 points on ",
    '(activity_extends: lifetime 730 days after the last earn or redemption)',
    'coalition events scan: 1 points_expiring, 1 dormant_member; outbox points_expiring to Cycle Works: '
    '49 points expire in 20 days',
    'today, coalition expire: 49 points of 1 member expired (to breakage); run again: 0 points; available 0, pending 0',
    # Tiers: the crossing sale earns at Blue; the next earns a tier award of its own.
    'tiers', 'PUT /v1/network/tiers: Blue from 0 x1, Silver from 500 x1.25, Gold from 2,000 x1.5',
    "Theo Blanc's party order at Green Grocer, 516.00 EUR: +516 points (earned at his tier then, Blue); "
    'balance: tier Silver, qualifying_points 516, 1,484 points to Gold',
    'his next sale, 83.40 EUR: +103 points: base_rate +83 (1 point per unit spent), tier +20 (Silver x1.25), '
    'paid by Green Grocer; balance: tier Silver, qualifying_points 599, 1,401 points to Gold',
    # The nudge, read from the outbox.
    'nudge', 'Fuel Stop adds Premium car wash (CAR-WASH, 700 points) to its catalogue (POST /v1/partners/fuel-stop/rewards)',
    'Theo Blanc fills up, 67.60 EUR: +41 points, 660 available; outbox reward_within_reach: '
    '"You\'re just 40 points away from Premium car wash at Fuel Stop"',
    # The operator's adjustment and a two-phase redemption captured for less than it held.
    'adjustment', 'POST /v1/members/<id>/adjustments +40 "goodwill: the car wash was out of order", funded by the network: '
                  '700 available',
    'hold', 'Fuel Stop\'s pump holds 300 points ("capture": false): authorized, 400 available, 300 held',
    'after the fill-up it captures 245: captured, 55 released, 455 available, 0 held',
)
HEADLINE = re.compile(r"Coalition demo \(seed (\d+)\): (\d+) partners, (\d+) members, ([\d,]+) sales, ([\d,]+) refunds, "
                      r"([\d,]+) redemptions")


@dataclass(frozen=True)
class Demo:
    exit_code: int
    output: str
    path: Path  # the SQLite file it left

    @property
    def files(self) -> Path:
        return self.path.parent / "demo-settlement"

    def one(self, sql: str, *args):
        with closing(sqlite3.connect(self.path)) as db:
            return db.execute(sql, args).fetchone()[0]

    def rows(self, sql: str, *args) -> list[tuple]:
        with closing(sqlite3.connect(self.path)) as db:
            return db.execute(sql, args).fetchall()

    def document(self, name: str) -> dict:
        return json.loads((self.files / name).read_text())


def run(path: Path, *extra: str):
    args = ["demo", "--database", str(path), "--members", str(MEMBERS), "--sales", str(SALES), *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    result = run(path)
    return Demo(result.exit_code, result.output, path)


def section(output: str, title: str) -> str:
    """The lines of one report section, from its title up to the next blank line."""
    start = output.index(title)
    end = output.find("\n\n", start)
    return output[start:end if end != -1 else None]


def table(output: str, title: str) -> list[list[str]]:
    """A headed table's rows under its rule line, cells split where two spaces or more part them."""
    lines = section(output, title).splitlines()
    rule = next(n for n, line in enumerate(lines) if set(line.strip()) <= {"-", " "} and "--" in line)
    return [re.split(r"\s{2,}", line.strip()) for line in lines[rule + 1:]]


def records(output: str, title: str) -> list[dict[str, str]]:
    """A headed table's rows, each by its column names."""
    lines = section(output, title).splitlines()
    rule = next(n for n, line in enumerate(lines) if set(line.strip()) <= {"-", " "} and "--" in line)
    header = re.split(r"\s{2,}", lines[rule - 1].strip())
    return [dict(zip(header, row)) for row in table(output, title)]


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def money(cell: str) -> Decimal:
    assert re.fullmatch(r"-?[\d,]+\.\d\d", cell), cell  # a decimal string in the currency's minor unit, never a float
    return Decimal(cell.replace(",", ""))


def headline(demo: Demo) -> dict[str, int]:
    found = HEADLINE.search(demo.output)
    assert found, demo.output[:500]
    return dict(zip(("seed", "partners", "members", "sales", "refunds", "redemptions"), map(number, found.groups())))


def in_order(text: str, fragments) -> None:
    """Each fragment is in the text, after the one before it."""
    at = 0
    for fragment in fragments:
        found = text.find(fragment, at)
        assert found != -1, f"{fragment!r} not found after position {at} in:\n{text}"
        at = found + len(fragment)


# ---------------------------------------------------------------- the run and the ledger


def test_demo_builds_a_network_through_the_api_and_its_ledger_holds(demo):
    assert demo.exit_code == 0, demo.output
    for name in CHECKS:
        assert f"  ok    {name}" in section(demo.output, "Ledger invariants")
    assert "FAIL" not in demo.output and "balance mismatch" not in demo.output

    # The database it left holds every invariant too, read afresh.
    engine = create_engine(f"sqlite:///{demo.path}")
    try:
        with Session(engine) as session:
            assert check(session) == {name: [] for name in CHECKS}
    finally:
        engine.dispose()
    assert demo.one("SELECT count(*) FROM partners") == 5 + 1  # and the bike shop of the member-life scenes
    assert demo.one("SELECT count(*) FROM members") == MEMBERS + 2  # and the two members whose lives the demo follows
    # Exactly the tills' sales, 4 Shopify orders and 34 rows of the bookshop's export (and the member-life scenes'
    # own): the replayed request, the resent webhook, the forged one, the mistyped row and the resent file booked nothing.
    assert demo.one("SELECT count(*) FROM orders WHERE kind = 'sale'") == ALL_SALES
    assert demo.one("SELECT count(*) FROM orders o JOIN partners p ON p.id = o.partner_id "
                    "WHERE p.slug = 'page-and-plume' AND o.kind = 'sale'") == 34
    assert demo.one("SELECT count(*) FROM orders WHERE kind = 'refund'") >= 1
    assert demo.one("SELECT count(*) FROM orders WHERE kind = 'redemption'") >= 1
    assert "Idempotent-Replayed: true" in demo.output


def test_the_headline_counts_are_the_tables_and_the_database(demo):
    counts = headline(demo)

    plugins = table(demo.output, "Partners and their plugins")
    points = table(demo.output, "Points by partner")
    enrolled = table(demo.output, "Members, by the partner")
    assert counts["seed"] == 7
    assert counts["partners"] == len(plugins) == len(points) - 1 == demo.one("SELECT count(*) FROM partners")
    assert points[-1][0] == enrolled[-1][0] == "total"
    assert counts["members"] == number(enrolled[-1][1]) == sum(number(row[1]) for row in enrolled[:-1])
    assert counts["members"] == demo.one("SELECT count(*) FROM members")
    points = records(demo.output, "Points by partner")
    for column in ("sales", "refunds", "redemptions"):
        assert counts[column] == number(points[-1][column]) == sum(number(row[column]) for row in points[:-1])
        kind = column[:-1]
        assert counts[column] == demo.one("SELECT count(*) FROM orders WHERE kind = ?", kind)
    assert counts["sales"] == ALL_SALES


def test_points_by_partner_are_the_statements_and_the_ledgers(demo):
    points = records(demo.output, "Points by partner")
    sections = {s["partner"]: s for s in demo.document("statement-1.json")["statement"]["partners"]}
    names = dict(demo.rows("SELECT name, slug FROM partners"))
    for printed in points[:-1]:
        own = sections[names[printed["partner"]]]
        assert [number(printed[c]) for c in ("issued", "redeemed", "expired")] == [own[c] for c in ("issued", "redeemed", "expired")]
        assert number(printed["on cards"]) == own["outstanding"]
    # Points issued as printed are the partners' issuance postings in the ledger.
    issued = number(points[-1]["issued"])
    assert issued == demo.one("SELECT -sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id "
                              "WHERE a.kind = 'issuance'")
    # Points issued by one partner were spent at another: something to settle.
    cross = demo.one("SELECT coalesce(-sum(m.points), 0) FROM lot_movements m JOIN lots l ON l.id = m.lot_id "
                     "JOIN journal_entries e ON e.id = m.entry_id WHERE e.kind = 'redemption' AND e.partner_id <> l.issuer_id")
    assert cross > 0
    assert f"{cross:,} of " in section(demo.output, "Whose points were spent where")


# ---------------------------------------------------------------- partners


def test_demo_shows_the_partner_plugins_as_a_new_partner_meets_them(demo):
    rules = {row[0]: row for row in table(demo.output, "Partners and their plugins")}
    assert "canonical" in rules["Brew Bar"] and "category_multiplier coffee x2" in rules["Brew Bar"][-1]
    assert "day_of_week sat+sun x2" in rules["Brew Bar"][-1] and "cap 30" in rules["Brew Bar"][-1]
    assert "minimum_spend" in rules["Green Grocer"][-1] and "sku_bonus OLIVE-OIL-1L" in rules["Green Grocer"][-1]
    assert "shopify" in rules["Northside Roasters"] and "csv" in rules["Page & Plume"]
    plugins = section(demo.output, "What the tills and the plugins were answered")
    # Events: a welcome bonus at enrolment, a referral paid on the first sale, a review once a day.
    assert "welcome_bonus" in plugins and "(POST /v1/members)" in plugins
    assert "with referred_by" in plugins
    assert "422 action_limit_reached" in plugins
    # Shopify: signed webhooks at the inbound URL; a retry is a 200 duplicate, a forged one a 401.
    assert "/v1/partners/northside-roasters/inbound: 201" in plugins
    assert '200 {"duplicate": true' in plugins
    assert "401 bad_signature" in plugins
    assert "refunds/create" in plugins
    # The CSV export: every good row accepted, the mistyped one rejected by number, the resent file all duplicates.
    assert 'answer {"accepted": 35, "duplicates": 0, "rejected_total": 1}: row 18 invalid_row (total' in plugins
    assert 'sent again: {"accepted": 0, "duplicates": 35, "rejected_total": 1}' in plugins
    # A member's history shows what each rule gave.
    awards = plugins[plugins.index("history (GET /v1/members/<id>/history)"):]
    assert "base_rate +" in awards and "day_of_week +" in awards and "(weekend x2 (sat, sun))" in awards

    assert demo.one("SELECT count(*) FROM awards WHERE rule = 'day_of_week'") > 0
    assert demo.one("SELECT count(*) FROM awards WHERE rule = 'welcome_bonus'") > 0
    assert demo.one("SELECT count(*) FROM awards WHERE rule = 'referral'") == 2  # both members, once
    assert demo.one("SELECT count(*) FROM awards WHERE rule = 'action'") == 2
    assert demo.one("SELECT count(*) FROM orders o JOIN partners p ON p.id = o.partner_id "
                    "WHERE p.slug = 'northside-roasters' AND o.kind = 'refund'") == 1


# ---------------------------------------------------------------- members


def test_the_member_history_is_in_time_order_and_counts_what_it_leaves_out(demo):
    title = re.search(r"^What .+ sees .*$", demo.output, re.MULTILINE).group(0)
    total, shown = map(int, re.search(r": (\d+) entries, the latest (\d+) in time order", title).groups())
    rows = table(demo.output, title)
    more = int(re.fullmatch(r"and (\d+) more entries before these", rows[0][-1]).group(1))
    entries = rows[1:]
    assert rows[0][0] == "..." and len(entries) == shown and more + shown == total
    moments = [datetime.strptime(row[0], "%a %d %b %Y %H:%M") for row in entries]
    assert moments == sorted(moments) and len(set(moments)) > 1
    # As many entries as the ledger has for the member with the top balance (its name heads the section).
    name = re.search(r"What (.+) sees", title).group(1)
    top = table(demo.output, "Top balances")[0]
    assert top[-1] == name
    assert total == demo.one(
        "SELECT count(DISTINCT p.entry_id) FROM postings p JOIN accounts a ON a.id = p.account_id "
        "JOIN cards c ON c.member_id = a.member_id WHERE c.number = ?", top[0])


def test_demo_shows_a_members_life_on_a_moved_clock(demo):
    """Tiers, pending points, expiry, a nudge, an adjustment and a hold, each with its figures; the ledger still holds."""
    in_order(section(demo.output, "Member life"), MEMBER_LIFE)
    # A tier award is its own award, in the sale's entry: the partner where the sale was made funds it
    # (Green Grocer's sale after the crossing, then the fill-up at Fuel Stop: floor(33 x 0.25)).
    assert demo.rows("SELECT a.points, p.slug FROM awards a JOIN journal_entries e ON e.id = a.entry_id "
                     "JOIN partners p ON p.id = e.partner_id WHERE a.rule = 'tier' ORDER BY a.id") == [
        (20, "green-grocer"), (8, "fuel-stop")]
    assert demo.rows("SELECT count(*) FROM journal_entries WHERE kind = 'expiry'") == [(1,)]
    assert demo.rows("SELECT kind, count(*) FROM events WHERE kind IN ('points_expiring', 'reward_within_reach') "
                     "GROUP BY kind ORDER BY kind") == [("points_expiring", 1), ("reward_within_reach", 1)]


# ---------------------------------------------------------------- finance


def test_contracts_are_in_force_before_any_activity(demo):
    assert demo.one("SELECT count(DISTINCT partner_id) FROM contracts") == demo.one("SELECT count(*) FROM partners")
    assert demo.one("SELECT max(effective_from) FROM contracts") < demo.one("SELECT min(booked_at) FROM journal_entries")
    printed = {row[0]: row for row in table(demo.output, "Contracts in force")}
    assert printed["Fuel Stop"][1:3] == ["0.001", "0.008"] and printed["Brew Bar"][1:3] == ["0.002", "0.01"]


def test_the_statement_and_a_partners_section_are_saved_and_verify_offline(demo):
    keys = demo.document("settlement-keys.json")
    statement, own = demo.document("statement-1.json"), demo.document("statement-1-brew-bar.json")
    assert verify(statement, keys) == ["statement 1: signature by key " + statement["signature"]["key_id"],
                                       "Merkle root over the partner sections"]
    assert verify(own, keys)[-1] == "section of 'brew-bar' included under the signed root"
    assert own["section"] == next(s for s in statement["statement"]["partners"] if s["partner"] == "brew-bar")
    # The demo ran the real command on both files and printed its answers.
    printed = section(demo.output, "Statement 1")
    for name in ("statement-1.json", "statement-1-brew-bar.json"):
        assert f"$ coalition settlement verify {demo.files / name} --keys {demo.files / 'settlement-keys.json'}" in printed
    assert printed.count("    ok    ") == 4 and "FAIL" not in printed
    # The files are in the demo's folder, and what verifies is what was signed: one figure changed, and it fails.
    assert demo.files.parent == demo.path.parent
    statement["statement"]["partners"][0]["net"] = "1000000.00"
    with pytest.raises(VerificationFailed, match="signature does not hold"):
        verify(statement, keys)


def test_net_positions_sum_to_zero_and_the_transfers_move_them(demo):
    statement = demo.document("statement-1.json")["statement"]
    names = dict(demo.rows("SELECT slug, name FROM partners")) | {"network": "the network"}
    nets = {names[s["partner"]]: Decimal(s["net"]) for s in statement["partners"]}
    positions = table(demo.output, "Net positions")
    assert positions[-1][0] == "total"
    printed = {row[0]: row for row in positions[:-1]}
    assert {party: money(row[-1]) for party, row in printed.items()} == nets
    for _party, receives, pays, fees, net in positions[:-1]:
        assert money(receives) + money(pays) + money(fees) == money(net)
    assert sum(nets.values()) == 0 == money(positions[-1][-1])
    assert any(net != 0 for net in nets.values())  # there is something to settle

    # Each partner pays its net to the network, or receives it, in the settlement currency.
    moved = {}
    *transfers, kept = table(demo.output, "Transfers")
    assert kept == [f"the network keeps {nets['the network']:,} EUR: its fees, less what it pays for the points it funded."]
    for payer, payee, amount in transfers:
        party, sign = (payer, -1) if payee == "the network" else (payee, 1)
        moved[party] = sign * money(amount)
    assert moved == {party: net for party, net in nets.items() if net and party != "the network"}


# ---------------------------------------------------------------- runs


def test_same_seed_same_figures_and_a_rerun_starts_afresh(demo, tmp_path):
    """Run again with the same seed over a copy of the module's demo database: the same figures, nothing doubled."""
    path = tmp_path / "demo.db"
    shutil.copy(demo.path, path)
    again = run(path)

    assert again.exit_code == 0, again.output
    for title in ("Points by partner", "Whose points were spent where", "Net positions", "Transfers",
                  "Members, by the partner", "Partners and their plugins"):
        assert section(again.output, title) == section(demo.output, title)
    assert headline(Demo(0, again.output, path)) == headline(demo)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM orders WHERE kind = 'sale'").fetchone()[0] == ALL_SALES
        assert db.execute("SELECT count(*) FROM statements").fetchone()[0] == 1


def test_member_life_and_settlement_hold_on_both_databases(database, tmp_path):
    """The member-life scenes and the period's close against the test database, SQLite and PostgreSQL: same figures."""
    app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": DemoClock(),
                      "COALITION_SETTLEMENT_GRACE_SECONDS": 0,
                      "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "settlement-keys"),
                      "COALITION_MASTER_KEY_FILE": str(tmp_path / "master.key")})
    with serving(app) as client:
        stage = Stage(client, ADMIN_TOKEN, app)
        partners.onboard(stage)
        finance.sign_contracts(stage)
        life.years_ago(stage)
        life.today(stage)
        closed = finance.close_period(stage, tmp_path / "statements")

    in_order("\n".join("  ".join(row) for row in stage.rows), MEMBER_LIFE)
    assert [v.status for v in closed.verifications] == [0, 0]
    sections = {s["partner"]: s for s in closed.statement["statement"]["partners"]}
    # Noor Haddad's 100 Cycle Works points spent at Brew Bar, at Brew Bar's redeem rate; the goodwill points the
    # network funded and Fuel Stop's pump captured, at Fuel Stop's.
    assert sections["cycle-works"]["redeemed"] == 0 and sections["brew-bar"]["redeemed"] == 100
    assert sum(Decimal(s["net"]) for s in sections.values()) == 0


def foreign_ledger(path):
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE partners (slug TEXT)")
        db.execute("INSERT INTO partners VALUES ('acme')")
        db.commit()


@pytest.mark.parametrize("make", [lambda path: path.write_text("the real books"), foreign_ledger], ids=["text", "sqlite"])
def test_demo_never_deletes_a_file_it_did_not_make(tmp_path, make):
    path = tmp_path / "ledger.db"
    make(path)
    before = path.read_bytes()

    result = CliRunner().invoke(main, ["demo", "--database", str(path), "--members", "2", "--sales", "1"])

    assert result.exit_code == 2
    assert "is not a demo database" in result.output
    assert path.read_bytes() == before


def test_the_printed_people_and_wallet_link_open_the_pages_on_the_demos_database(demo):
    """What the demo prints under "Next steps" works on a hub served on its database, as `make serve` serves it."""
    printed = section(demo.output, "Next steps")
    desk = re.search(r"the finance desk\s+http://127.0.0.1:8000/desk\s+(\S+)  password (\S+)", printed)
    portal = re.search(r"brew-bar's portal\s+http://127.0.0.1:8000/portal\s+(\S+)  password (\S+)", printed)
    wallet = re.search(r"a member's wallet\s+http://127.0.0.1:8000(/wallet/open/\S+)", printed)
    assert desk and portal and wallet, printed
    app = create_app({"DATABASE_URL": f"sqlite:///{demo.path}", "COALITION_MASTER_KEY_FILE": str(demo.path.parent / "master.key"),
                      "COALITION_SECRET_KEY": "demo-test", "COALITION_PASSWORD_HASH": "CHEAPEST"})
    client = app.test_client()
    assert client.get(wallet.group(1)).headers["Location"] == "/wallet"
    assert "data-figure=\"available\"" in client.get("/wallet").get_data(as_text=True)
    for email, password in (desk.groups(), portal.groups()):
        page = app.test_client()
        answer = sign_in(page, email, password)
        assert answer.status_code == 200 and "Choose your own password" in answer.get_data(as_text=True)
    app.extensions["coalition"].db.engine.dispose()
