"""`coalition demo`: a small network built over real HTTP, summarised, and left in a SQLite file."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from click.testing import CliRunner

from network.cli import main
from network.invariants import CHECKS


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
        assert one("SELECT count(*) FROM partners") == 5
        assert one("SELECT count(*) FROM members") == 10
        # Exactly the 60 sales at the tills, 4 Shopify orders and 34 rows of the bookshop's export: the replayed
        # request, the resent webhook, the forged one, the mistyped row and the resent file booked nothing.
        assert one("SELECT count(*) FROM orders WHERE kind = 'sale'") == 60 + 4 + 34
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
        assert db.execute("SELECT count(*) FROM orders WHERE kind = 'sale'").fetchone()[0] == 60 + 4 + 34


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
