"""`coalition aliases` and `coalition import-balances`: a partner joining with its own programme, from the shell.

Its export of numbers and the hub cards its members were given, made in
one transaction, as POST /v1/card-aliases/batch makes them; then what its
members held, booked a chunk at a time as POST /v1/opening-balances/batch
books it. Both are in the audit trail as `cli (<os user>)`.
"""

from __future__ import annotations

import json
import sys

import click
from flask import current_app

from network.cli import main, with_appcontext
from network.cli_staff import hub_now, run_change, shell_actor
from network.earning import opening
from network.earning.terms import Terms
from network.errors import DomainError
from network.members import aliases
from network.parties import audit
from network.parties.registry import get_partner


@main.group("aliases")
def aliases_group() -> None:
    """A partner's own loyalty numbers (aliases) for hub cards."""


@aliases_group.command("import")
@click.option("--partner", "slug", required=True, help="the partner whose numbers these are")
@click.argument("file", type=click.File("rb"))
@with_appcontext
def aliases_import(slug: str, file) -> None:
    """Make a partner's aliases from a CSV of alias,card_number.

    Prints the same summary as POST /v1/card-aliases/batch; a file imported
    twice changes nothing the second time. Exits 1 if a row was rejected.
    """

    def work(session):
        partner = get_partner(session, slug)
        done = aliases.import_rows(session, partner.id, aliases.read_file(file), now=hub_now())
        audit.record(session, hub_now(), shell_actor(), "aliases import", f"/v1/card-aliases ({slug})",
                     partner_id=partner.id, after={"accepted": done["accepted"], "rejected": done["rejected_total"]})
        return done

    done = run_change(work)
    click.echo(json.dumps(done, indent=2))
    sys.exit(1 if done["rejected_total"] else 0)


@main.command("import-balances")
@click.option("--partner", "slug", required=True, help="the partner whose members' balances these are")
@click.argument("file", type=click.File("rb"))
@with_appcontext
def import_balances(slug: str, file) -> None:
    """Book a partner's opening balances from a CSV file.

    The columns are card and points, optionally earned_at and key (see POST
    /v1/opening-balances/batch). Prints the same summary as POST /v1/opening-balances/batch; a file
    imported twice books nothing the second time (its rows are duplicates).
    Exits 1 if a row was rejected.
    """
    db = current_app.extensions["coalition"].db
    try:
        partner = db.read(lambda session: get_partner(session, slug))
        outcome = opening.import_rows(
            db, partner, opening.read_file(file, partner.timezone), clock=hub_now, terms=Terms.from_config(current_app.config),
            audit=lambda session, what: audit.record(session, hub_now(), shell_actor(), "import-balances",
                                                     f"/v1/opening-balances ({slug})", partner_id=partner.id, after=what))
    except DomainError as exc:
        raise click.ClickException(f"{exc.message}: {exc.details}" if exc.details else exc.message) from None
    click.echo(json.dumps(outcome.view(), indent=2))
    sys.exit(1 if outcome.rejected_total else 0)
