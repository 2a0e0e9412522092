"""`coalition demo`: a small network built over real HTTP, summarised, and left in a SQLite file."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from click.testing import CliRunner

from network import create_app
from network.cli import main
from network.demo import DemoClock, Stage, Tally, after_the_four_weeks, serving, years_ago
from network.ledger.invariants import CHECKS
from tests.conftest import ADMIN_TOKEN

#: Sales of the member-life scenes, besides the tills' 60, Shopify's 4 and the bookshop's 34: one at the bike shop,
#: two at Green Grocer, one fill-up at Fuel Stop.
LIFE_SALES = 4
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


def run(path, *extra: str):
    args = ["demo", "--database", str(path), "--members", "10", "--sales", "60", *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def section(output: str, title: str) -> str:
    """The lines of one summary section, up to the next blank line."""
    start = output.index(title)
    end = output.find("\n\n", start)
    return output[start:end if end != -1 else None]


def test_demo_builds_a_network_through_the_api_and_its_ledger_holds(tmp_path):
    path = tmp_path / "demo.db"
    result = run(path)

    assert result.exit_code == 0, result.output
    out = result.output
    for name in ("Brew Bar", "Green Grocer", "Fuel Stop", "Northside Roasters", "Page & Plume"):
        assert name in section(out, "Points by partner")
        assert name in section(out, "Whose points were spent where")
    for name in CHECKS:
        assert f"ok    {name}" in out
    assert "FAIL" not in out
    assert "Idempotent-Replayed: true" in out
    assert "Top balances" in out and "Next steps" in out

    with closing(sqlite3.connect(path)) as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        assert one("SELECT count(*) FROM partners") == 5 + 1  # and the bike shop of the member-life scenes
        assert one("SELECT count(*) FROM members") == 10 + 2  # and the two members whose lives the demo follows
        # Exactly the 60 sales at the tills, 4 Shopify orders and 34 rows of the bookshop's export (and the member-life
        # scenes' own): the replayed request, the resent webhook, the forged one, the mistyped row and the resent file
        # booked nothing.
        assert one("SELECT count(*) FROM orders WHERE kind = 'sale'") == 60 + 4 + 34 + LIFE_SALES
        assert one("SELECT count(*) FROM orders o JOIN partners p ON p.id = o.partner_id "
                   "WHERE p.slug = 'page-and-plume' AND o.kind = 'sale'") == 34
        assert one("SELECT count(*) FROM orders WHERE kind = 'refund'") >= 1
        assert one("SELECT count(*) FROM orders WHERE kind = 'redemption'") >= 1
        assert one("SELECT count(*) FROM postings") > 120
        assert one("SELECT sum(amount) FROM postings") == 0
        # Points issued by one partner were spent at another: something to settle.
        cross = one(
            "SELECT coalesce(-sum(m.points), 0) FROM lot_movements m JOIN lots l ON l.id = m.lot_id "
            "JOIN journal_entries e ON e.id = m.entry_id WHERE e.kind = 'redemption' AND e.partner_id <> l.issuer_id"
        )
        assert cross > 0
        assert one("SELECT count(*) FROM accounts WHERE kind = 'available' AND balance < 0") == 0

    # The numbers printed are the ledger's: total points issued as printed equal the partners' issuance postings.
    issued = one_total(section(out, "Points by partner"), column=-2)
    with closing(sqlite3.connect(path)) as db:
        ledger_issued = db.execute(
            "SELECT -sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.kind = 'issuance'"
        ).fetchone()[0]
    assert issued == ledger_issued


def test_demo_shows_the_partner_plugins_as_a_new_partner_meets_them(tmp_path):
    path = tmp_path / "demo.db"
    result = run(path)

    assert result.exit_code == 0, result.output
    plugins = section(result.output, "Partner plugins")
    rules = {line.split("  ")[1].strip(): line for line in plugins.splitlines()[3:8]}
    assert "canonical" in rules["Brew Bar"] and "category_multiplier coffee x2" in rules["Brew Bar"]
    assert "day_of_week sat+sun x2" in rules["Brew Bar"] and "cap 30" in rules["Brew Bar"]
    assert "minimum_spend" in rules["Green Grocer"] and "sku_bonus OLIVE-OIL-1L" in rules["Green Grocer"]
    assert "shopify" in rules["Northside Roasters"] and "csv" in rules["Page & Plume"]
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
    # Balances the tills and the demo's own pricing expected are the hub's, and the ledger holds.
    assert "balance mismatch" not in result.output
    assert "FAIL" not in result.output

    with closing(sqlite3.connect(path)) as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        assert one("SELECT count(*) FROM awards WHERE rule = 'day_of_week'") > 0
        assert one("SELECT count(*) FROM awards WHERE rule = 'welcome_bonus'") > 0
        assert one("SELECT count(*) FROM awards WHERE rule = 'referral'") == 2  # both members, once
        assert one("SELECT count(*) FROM awards WHERE rule = 'action'") == 2
        assert one("SELECT count(*) FROM orders o JOIN partners p ON p.id = o.partner_id "
                   "WHERE p.slug = 'northside-roasters' AND o.kind = 'refund'") == 1


def one_total(table: str, column: int) -> int:
    total_line = next(line for line in table.splitlines() if line.strip().startswith("total"))
    return int(total_line.split()[column].replace(",", ""))


def test_same_seed_same_points_and_a_rerun_starts_afresh(tmp_path):
    path = tmp_path / "demo.db"
    first, second = run(path, "--seed", "3"), run(path, "--seed", "3")

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    for title in ("Points by partner", "Whose points were spent where", "Partner plugins", "Activity"):
        strip = lambda text: [line for line in section(text, title).splitlines() if "HTTP requests" not in line]  # noqa: E731
        assert strip(first.output) == strip(second.output)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT count(*) FROM orders WHERE kind = 'sale'").fetchone()[0] == 60 + 4 + 34 + LIFE_SALES


def in_order(text: str, fragments) -> None:
    """Each fragment is in the text, after the one before it."""
    at = 0
    for fragment in fragments:
        found = text.find(fragment, at)
        assert found != -1, f"{fragment!r} not found after position {at} in:\n{text}"
        at = found + len(fragment)


def test_demo_shows_a_members_life_on_a_moved_clock(tmp_path):
    """Tiers, pending points, expiry, a nudge, an adjustment and a hold, each with its figures; the ledger still holds."""
    path = tmp_path / "demo.db"
    result = run(path)

    assert result.exit_code == 0, result.output
    life = section(result.output, "Member life")
    in_order(life, MEMBER_LIFE)
    assert "FAIL" not in result.output and "balance mismatch" not in result.output

    with closing(sqlite3.connect(path)) as db:
        rows = lambda sql: db.execute(sql).fetchall()  # noqa: E731
        # A tier award is its own award, in the sale's entry: the partner where the sale was made funds it
        # (Green Grocer's sale after the crossing, then the fill-up at Fuel Stop: floor(33 x 0.25)).
        assert rows("SELECT a.points, p.slug FROM awards a JOIN journal_entries e ON e.id = a.entry_id "
                    "JOIN partners p ON p.id = e.partner_id WHERE a.rule = 'tier' ORDER BY a.id") == [
            (20, "green-grocer"), (8, "fuel-stop")]
        assert rows("SELECT count(*) FROM journal_entries WHERE kind = 'expiry'") == [(1,)]
        assert rows("SELECT kind, count(*) FROM events WHERE kind IN ('points_expiring', 'reward_within_reach') "
                    "GROUP BY kind ORDER BY kind") == [("points_expiring", 1), ("reward_within_reach", 1)]


def test_member_life_scenes_hold_on_both_databases(database, tmp_path):
    """The same scenes against the test database, SQLite and PostgreSQL: the same figures (the fixture checks the ledger)."""
    clock = DemoClock()
    app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock,
                      "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "settlement-keys"),
                      "COALITION_MASTER_KEY_FILE": str(tmp_path / "master.key")})
    rows: list[list[str]] = []
    with serving(app, Tally()) as client:
        stage = Stage(client, ADMIN_TOKEN, clock, database, app.config, rows)
        stage.open_network()
        years_ago(stage)
        after_the_four_weeks(stage)

    in_order("\n".join("  ".join(row) for row in rows), MEMBER_LIFE)


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
