"""`coalition aliases`: a partner's own loyalty numbers for hub cards, brought in from the shell by the file.

For a partner joining with its own programme: its export of numbers and
the hub cards its members were given, made in one transaction, as POST
/v1/card-aliases/batch makes them, and in the audit trail as `cli (<os
user>)`.
"""

from __future__ import annotations

import json
import sys

import click

from network.cli import main, with_appcontext
from network.cli_staff import hub_now, run_change, shell_actor
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
