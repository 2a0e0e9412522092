"""The demo's report: a headline, then one part for each of the three users (partners, members, finance).

Only printing: every figure comes from the `Summary` (the database and the
signed statement) or from what the scenes saw, so a table and the headline
above it say the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import click

from network.demo.catalogue import CURRENCY, SECTION_OF
from network.demo.faces import Faces
from network.demo.finance import Closed
from network.demo.plan import Member
from network.demo.stage import Stage, local
from network.demo.summary import Summary
from network.ledger.report import echo_check

HISTORY_SHOWN = 8  # a member's latest entries shown, oldest first


class Amount(str):
    """Money already written for people ("14,250.34"): right-aligned like a number."""


def euros(cents: int) -> Amount:
    return Amount(f"{cents // 100:,}.{cents % 100:02d}")


def decimal(value: Decimal) -> Amount:
    """A statement's amount, a Decimal in the currency's major unit, with thousands separated."""
    return Amount(f"{value:,}")


def table(headers: list[str] | None, rows: list[list], indent: str = "  ") -> None:
    """Plain aligned columns: text left-aligned, numbers right-aligned, a rule under the header."""
    width = len(headers) if headers else max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    numeric = [all(isinstance(row[i], (int, Amount)) or row[i] == "" for row in rows) for i in range(width)]
    cells = [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    if headers:
        cells.insert(0, list(headers))
    widths = [max(len(row[i]) for row in cells) for i in range(width)]
    for n, row in enumerate(cells):
        line = "  ".join(cell.rjust(w) if numeric[i] else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        click.echo(indent + line.rstrip())
        if headers and n == 0:
            click.echo(indent + "  ".join("-" * w for w in widths))


def part(title: str) -> None:
    click.echo()
    click.secho(f"== {title} ==", bold=True)


def heading(title: str, note: str = "") -> None:
    click.echo()
    click.secho(title, bold=True)
    if note:
        click.echo(f"  ({note})")


@dataclass(frozen=True)
class Run:
    """How the demo ran, for the headline."""

    seed: int
    database: Path
    url: str
    requests: int
    seconds: float


def headline(run: Run, summary: Summary) -> None:
    click.secho(f"Coalition demo (seed {run.seed}): {len(summary.partners)} partners, {summary.members} members, "
                f"{summary.total('sales')} sales, {summary.total('refunds')} refunds, "
                f"{summary.total('redemptions')} redemptions", bold=True)
    click.echo(f"  built through {run.requests:,} HTTP requests in {run.seconds:.1f} s to the hub at {run.url} "
               f"(in this process, on a moved clock)")
    click.echo(f"  database  {run.database}")


def report(run: Run, stage: Stage, members: list[Member], summary: Summary, closed: Closed) -> None:
    headline(run, summary)
    part("Partners")
    partners_and_plugins(summary)
    what_the_tills_saw(stage, members)
    points_by_partner(summary)
    part("Members")
    members_by_partner(summary)
    top_balances(members)
    member_history(stage)
    member_life(stage)
    part("Finance")
    contracts(summary)
    statement(closed, summary.name(SECTION_OF))
    provenance(summary)
    net_positions(summary)
    transfers(summary)
    heading("Ledger invariants (what `coalition ledger check` prints)")
    echo_check(summary.ledger, indent="  ")


# ---------------------------------------------------------------- partners


def _rule_text(rule: dict) -> str:
    """One rule in a few words; a rule this demo does not know (a third party's) shows its name and parameters."""
    params = {key: value for key, value in rule.items() if key != "rule"}
    words = {
        "base_rate": lambda p: f"{p['rate']} pt/{CURRENCY}",
        "category_multiplier": lambda p: f"{p['category']} x{p['multiplier']}",
        "day_of_week": lambda p: f"{'+'.join(p['days'])} x{p['multiplier']}",
        "sku_bonus": lambda p: f"{p['sku']} +{p['points']}",
        "minimum_spend": lambda p: f"from {p['amount']} {CURRENCY}",
        "cap": lambda p: f"{p['max_points']} pts/sale",
        "welcome_bonus": lambda p: f"+{p['points']}",
        "referral": lambda p: f"+{p['referrer_points']} referrer / +{p['referred_points']} referred",
        "action": lambda p: f"{p['action']} +{p['points']} ({p['per_day']}/day)",
    }.get(rule["rule"])
    return f"{rule['rule']} {words(params) if words else json.dumps(params)}"


def partners_and_plugins(summary: Summary) -> None:
    heading("Partners and their plugins", "an adapter reads each partner's own format; its earning rules price each sale: "
                                          "docs/plugins.md")
    table(["partner", "trade", "adapter", "earning rules"],
          [[p.name, p.trade, p.adapter, ", ".join(_rule_text(r) for r in p.rules)] for p in summary.partners])


def what_the_tills_saw(stage: Stage, members: list[Member]) -> None:
    """The four weeks as the tills and the plugins were answered."""
    tally, showcase = stage.tally, stage.showcase
    heading("What the tills and the plugins were answered")
    rows = [
        ["sales", f"{tally.sales:,} POST /v1/transactions, canonical JSON with line items, over the four weeks before this one"],
        ["refunds", f"{tally.refunds:,} ({tally.full_refunds} full, {tally.refunds - tally.full_refunds} partial): "
                    "points clawed back pro rata"],
        ["redemptions", f"{tally.redemptions:,} POST /v1/redemptions at a partner other than the member's own; "
                        f"{tally.refused} refused (422 insufficient_points, nothing booked)"],
        ["replayed", tally.replay],
    ]
    if tally.uncollected:
        rows.append(["", f"{tally.uncollected:,} points of claw-back not collected: already spent (policy within_balance)"])
    if tally.skipped:
        rows.append(["", f"{tally.skipped} redemptions not attempted: no member held enough points yet"])
    for partner, bonuses in showcase.welcome.items():
        rows.append(["welcome_bonus", f"{len(bonuses)} members enrolled at {partner}'s till (POST /v1/members): "
                                      f"{sum(bonuses):+,} points at once"])
    if showcase.referral:
        referred = next(m for m in members if m.referral)
        rows.append(["referral", f"{showcase.referral}: {'paid' if referred.bought else 'not paid yet, no sale since'}"])
    rows.append(["action", showcase.actions])
    rows += [["shopify" if n == 0 else "", line] for n, line in enumerate(showcase.shopify)]
    rows += [["csv" if n == 0 else "", line] for n, line in enumerate(showcase.csv)]
    entry = showcase.awarded_entry
    if entry:
        member = members[showcase.awarded[0]]
        rows.append(["awards", f"{member.name}'s history (GET /v1/members/<id>/history), sale {entry['order_id']} of "
                               f"{local(entry['occurred_at'] or entry['booked_at'])}: {entry['points']} points"])
        rows.append(["", ", ".join(f"{a['rule']} {a['points']:+d} ({a['detail']})" for a in entry["awards"])])
    table(None, rows)
    for problem in tally.mismatched_balances:
        click.secho(f"  balance mismatch: {problem}", fg="red")


def points_by_partner(summary: Summary) -> None:
    heading(f"Points by partner (statement {summary.statement['sequence']})",
            "issued = earned less refunds' claw-backs; redeemed = spent at that partner's tills; "
            "on cards = still to be spent")
    rows = [[p.name, p.sales, euros(p.takings), p.refunds, p.redemptions, p.section["issued"], p.section["redeemed"],
             p.section["expired"], p.section["outstanding"]] for p in summary.partners]
    total = ["total", *(sum(row[i] for row in rows) for i in (1,)), euros(summary.total("takings")),
             *(sum(row[i] for row in rows) for i in range(3, 9))]
    table(["partner", "sales", f"takings {CURRENCY}", "refunds", "redemptions", "issued", "redeemed", "expired", "on cards"],
          rows + [total])


# ---------------------------------------------------------------- members


def members_by_partner(summary: Summary) -> None:
    heading("Members, by the partner whose till enrolled them")
    rows = [[p.name, p.enrolled] for p in summary.partners if p.enrolled]
    table(["enrolled at", "members"], rows + [["total", summary.members]])


def top_balances(members: list[Member]) -> None:
    heading("Top balances (GET /v1/cards/<card>/balance)")
    top = sorted(members, key=lambda m: (-m.available, m.index))[:5]
    table(["card", "available", "member"], [[m.card, m.available, m.name] for m in top])


def member_history(stage: Stage) -> None:
    """The top member's history as they would read it: in time order, the latest entries, and how many came before."""
    if not stage.showcase.history:
        return
    name, entries = stage.showcase.history
    when = lambda e: e["occurred_at"] or e["booked_at"]  # noqa: E731
    ordered = sorted(entries, key=lambda e: (when(e), e["booked_at"]))
    shown = ordered[-HISTORY_SHOWN:]
    heading(f"What {name} sees (GET /v1/members/<id>/history): {len(entries)} entries, the latest {len(shown)} "
            "in time order")
    rows = [[local(when(e)), e["points"], e["reason"]] for e in shown]
    earlier = len(ordered) - len(shown)
    if earlier:
        rows.insert(0, ["...", "", f"and {earlier} more entries before these"])
    table(["when", "points", "entry"], rows)


def member_life(stage: Stage) -> None:
    heading("Member life (tiers, pending points, expiry, nudges; the demo moves the hub's clock, nothing sleeps)")
    table(None, stage.rows)


# ---------------------------------------------------------------- finance


def contracts(summary: Summary) -> None:
    heading("Contracts in force (PUT /v1/partners/<slug>/contract, signed when the network opened)",
            f"{CURRENCY} per point: the issuer pays the network its issue fee; where a point of another issuer is spent, "
            "the till receives the redeem rate from the issuer")
    rows = []
    for p in summary.partners:
        contract = p.section["contract"] or {}
        rows.append([p.name, Amount(contract.get("issue_fee", "-")), Amount(contract.get("redeem_rate", "-")),
                     local(contract["effective_from"]) if contract else "no contract"])
    table(["partner", "issue fee", "redeem rate", "in force from"], rows)


def statement(closed: Closed, partner: str) -> None:
    body = closed.statement["statement"]
    period = body["period"]
    heading(f"Statement {body['sequence']} (POST /v1/settlement/runs): from {period['start'] or 'the first entry'} "
            f"to {period['end']}, signed by key {closed.statement['signature']['key_id']}")
    table(None, [["saved", "statement", str(closed.files["statement"]), "GET /v1/settlement/statements/<n>, the operator's"],
                 ["", "section", str(closed.files["section"]), f"{partner}'s own, fetched with its API key"],
                 ["", "keys", str(closed.files["keys"]), "GET /v1/settlement/keys, public"]])
    click.echo("  each checked offline, with the public keys alone:")
    for verification in closed.verifications:
        click.echo(f"  $ {verification.command}")
        for line in verification.lines:
            click.secho(f"    {line}", fg="green" if line.startswith("ok") else "red")


def provenance(summary: Summary) -> None:
    heading("Whose points were spent where (the statement's matrix)",
            "the issuer pays the till where its points were spent, at that till's redeem rate; its own points, nothing")
    matrix = summary.statement["matrix"]
    rows = [[summary.name(c["issuer"]), summary.name(c["redeemer"]), c["points"], decimal(Decimal(c["amount"]))]
            for c in matrix]
    rows.append(["total", "", sum(c["points"] for c in matrix), decimal(sum((Decimal(c["amount"]) for c in matrix),
                                                                           Decimal("0.00")))])
    table(["issued by", "spent at", "points", CURRENCY], rows)
    cross = sum(c["points"] for c in matrix if c["issuer"] != c["redeemer"])
    click.echo(f"  {cross:,} of {sum(c['points'] for c in matrix):,} points were spent at a partner other than their "
               "issuer: that is what the partners settle.")


def net_positions(summary: Summary) -> None:
    heading(f"Net positions ({CURRENCY}: positive receives, negative pays)",
            "receives for points spent at its tills, pays for its points spent elsewhere, and fees; they sum to zero")
    positions = summary.net_positions()
    rows = [[p.party, decimal(p.receives), decimal(0 - p.pays), decimal(p.fees), decimal(p.net)] for p in positions]
    total = lambda column: sum((getattr(p, column) for p in positions), 0 * positions[0].net)  # noqa: E731
    rows.append(["total", decimal(total("receives")), decimal(0 - total("pays")), decimal(total("fees")),
                 decimal(total("net"))])
    table(["party", "receives", "pays", "fees", "net"], rows)


def transfers(summary: Summary) -> None:
    heading("Transfers (multilateral netting: each partner pays or receives only its net, through the network)")
    rows = []
    for transfer in summary.statement["transfers"]:
        name = summary.name(transfer["partner"])
        payer, payee = (name, "the network") if transfer["direction"] == "pays" else ("the network", name)
        rows.append([payer, payee, decimal(Decimal(transfer["amount"]))])
    if rows:
        table(["from", "to", CURRENCY], rows)
    else:
        click.echo("  none: every partner's net is zero")
    kept = next(p for p in summary.net_positions() if p.party == "the network")
    click.echo(f"  the network keeps {decimal(kept.net)} {CURRENCY}: its fees, less what it pays for the points it funded.")


def next_steps(database: Path, key: str, card: str, shown: Faces, closed: Closed) -> None:
    url = f"sqlite:///{database}"
    heading("Next steps")
    click.echo("  Serve this demo database (make serve serves it when DATABASE_URL is unset):")
    click.echo("    make serve        # or: DATABASE_URL=" + url + " .venv/bin/coalition serve --port 8000")
    click.echo("  Then, in a browser (the passwords are one-time: each person chooses their own at the first sign-in):")
    slug, email, password = shown.partner
    for label, path, who in (("the finance desk", "/desk", f"{shown.staff[0]}  password {shown.staff[1]}"),
                             (f"{slug}'s portal", "/portal", f"{email}  password {password}"),
                             ("a member's wallet", shown.wallet, "(works once, for 15 minutes)")):
        click.echo(f"    {label:<20} http://127.0.0.1:8000{path:<9} {who}")
    click.echo("  Call it as a till would (the key is this demo's, shown once):")
    click.echo(f"    curl -H 'Authorization: Bearer {key}' http://127.0.0.1:8000/v1/cards/{card}/balance")
    click.echo("    curl http://127.0.0.1:8000/v1/openapi.json")
    click.echo(f"  Audit the ledger again:   DATABASE_URL={url} .venv/bin/coalition ledger check")
    click.echo(f"  Verify the statement:     .venv/bin/coalition settlement verify {closed.files['statement']} "
               f"--keys {closed.files['keys']}")
