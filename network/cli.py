"""The `coalition` command: database, server, the hub's jobs and audits, and the demo.

A plain click group, not Flask's: `coalition --help` shows the product's
commands alone. A command that needs the hub runs in the app context of
`create_app()`, or of the app a caller hands in as `obj` (the tests do).
"""

from __future__ import annotations

import functools
import io
import os
import sys
from datetime import datetime, timezone

import click
from flask import Flask, current_app

from network import create_app

CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True}


class ProductGroup(click.Group):
    """Lists each command by its whole first sentence: a help cut short with "..." tells a user nothing."""

    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, command.get_short_help_str(limit=sys.maxsize)) for name, command in self._listed(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _listed(self, ctx: click.Context):
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                yield name, command


@click.group(cls=ProductGroup, context_settings=CONTEXT)
def main() -> None:
    """Coalition loyalty network hub.

    Every command reads the hub's settings from the environment (DATABASE_URL,
    COALITION_*), as `coalition serve` does. A time (--as-of) is any ISO 8601
    date or time; one without an offset is UTC, a bare date its midnight UTC.
    """


def with_appcontext(command):
    """Run the command inside the hub's app, so that it reads the same settings and plugins as the server."""

    @functools.wraps(command)
    def in_app(*args, **kwargs):
        with _app().app_context():
            return command(*args, **kwargs)

    return in_app


def _app() -> Flask:
    """The app handed in as `obj`, else the hub's own; a misspelt setting is an error naming it, not a traceback."""
    given = click.get_current_context().find_object(Flask)
    if given is not None:
        return given
    try:
        return create_app()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _db():
    return current_app.extensions["coalition"].db


@main.group()
def db() -> None:
    """Upgrade the database schema; make its monthly partitions."""


@db.command("upgrade")
@click.option("--revision", default="head", help="the Alembic revision to upgrade to")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to DATABASE_URL."""
    from network.schema import upgrade

    upgrade(_db().engine, revision, master_key_file=current_app.config["COALITION_MASTER_KEY_FILE"])
    click.echo(f"database at {revision}: {_db().engine.url.render_as_string(hide_password=True)}")


@db.command("partitions")
@click.option("--ahead", default=None, type=click.IntRange(0, 120), show_default="3",
              help="months to make ahead of the current one")
@with_appcontext
def db_partitions(ahead: int | None) -> None:
    """Make the coming months' ledger partitions, and list them all.

    PostgreSQL only; safe to run at any time (cron, monthly). Rows booked in
    a month that had none wait in the default partition and move into the
    month's as it is made.
    """
    from network.ledger import partitions

    with _db().engine.begin() as connection:
        if not partitions.partitioned(connection, partitions.TABLES[0]):
            click.echo(f"{connection.dialect.name}: postings and lot movements are one table each; nothing to make")
            return
        made = partitions.ensure(connection, now=current_app.config["CLOCK"](),
                                 ahead=partitions.MONTHS_AHEAD if ahead is None else ahead)
        listed = partitions.listing(connection)
    for name in made:
        click.echo(f"made {name}")
    click.echo(f"{'table':<14} {'partition':<24} {'month':<8} {'rows':>12}")
    for part in listed:
        month = "default" if part.month is None else f"{part.month:%Y-%m}"
        rows = f"{part.rows:,}" if part.month is None else f"~{part.rows:,}"
        click.echo(f"{part.table:<14} {part.name:<24} {month:<8} {rows:>12}")


@main.group("members")
def members_group() -> None:
    """Look after members' personal data."""


@members_group.command("rewrap-keys")
@with_appcontext
def members_rewrap_keys() -> None:
    """Wrap every member's data key under a new master key.

    Each e-mail's search hash is made again under the new key's search key.
    Put the new key first in COALITION_MASTER_KEY and keep the old one after
    it (comma-separated), run this, then drop the old key. Commits a page at a
    time; safe to rerun.
    """
    from network.members.privacy import rewrap_page

    master = current_app.extensions["coalition.master_key"]
    done, after = 0, ""
    while True:
        last, count = _db().transact(lambda session: rewrap_page(session, master, after=after))
        if last is None:
            break
        done, after = done + count, last
    click.echo(f"{done} member keys now wrapped under the first master key")


@main.command("serve")
@click.option("--host", default="127.0.0.1", help="the address to listen on")
@click.option("--port", default=8000, type=int, help="the port to listen on")
@click.option("--workers", default=lambda: os.cpu_count() or 2, type=int, show_default="one per CPU",
              help="gunicorn worker processes")
@click.option("--threads", default=4, type=int, help="threads per worker")
@click.option("--access-log/--no-access-log", default=None, show_default="COALITION_ACCESS_LOG, off",
              help="a JSON line per request on standard error")
def serve_command(host: str, port: int, workers: int, threads: int, access_log: bool | None) -> None:
    """Serve the API with gunicorn."""
    from network.serve import serve

    serve(host, port, workers, threads, access_log)


@main.group()
def ledger() -> None:
    """Audit the ledger."""


@ledger.command("check")
@with_appcontext
def ledger_check() -> None:
    """Verify every ledger invariant; exit 1 naming each one that fails."""
    from network.ledger.invariants import check
    from network.ledger.report import echo_check

    with _db().session() as session:
        results = check(session)
    sys.exit(0 if echo_check(results) else 1)


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@with_appcontext
def plugins_command(as_json: bool) -> None:
    """List the loaded plugins and what they provide.

    Each with its distribution, version and hooks.
    """
    import dataclasses
    import json

    from partners.plugins import describe

    infos = describe(current_app.extensions["coalition"].plugins)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(info) for info in infos], indent=2))
        return
    for info in infos:
        where = f"{info.distribution} {info.version}" if info.distribution else "registered in code"
        click.secho(info.name, bold=True, nl=False)
        click.echo(f"  ({where})")
        click.echo(f"    hooks:    {', '.join(info.hooks)}")
        click.echo(f"    provides: {', '.join(info.provides) or '-'}")


@main.command("import")
@click.option("--partner", "slug", required=True, help="the partner whose export this is")
@click.argument("file", type=click.File("rb"))
@with_appcontext
def import_command(slug: str, file) -> None:
    """Book a partner's batch export through its adapter.

    Streams the file with a progress bar and prints the same summary as POST
    /v1/transactions/batch; a file imported twice books nothing the second
    time. Exits 1 if a row was rejected.
    """
    import json

    from network.earning import intake
    from network.earning.terms import Terms
    from network.parties.registry import get_partner
    from partners.adapters import BatchAdapter
    from partners.errors import UnreadablePayload

    hub = current_app.extensions["coalition"]
    partner = hub.db.read(lambda session: get_partner(session, slug))
    adapter, config = hub.adapter(partner)
    if not isinstance(adapter, BatchAdapter):
        raise click.ClickException(f"{slug}'s adapter {adapter.name!r} reads no batch files")
    size = os.fstat(file.fileno()).st_size if file.seekable() else None
    with click.progressbar(length=size, label=f"importing for {slug}", file=sys.stderr) as bar:
        counting = _Counting(file, bar.update)
        try:
            outcome = intake.import_rows(
                hub.db, partner, hub.ruleset(partner), adapter.read_rows(counting, config, partner.timezone),
                clock=current_app.config["CLOCK"], terms=Terms.from_config(current_app.config),
            )
        except UnreadablePayload as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(outcome.view(), indent=2))
    sys.exit(1 if outcome.rejected_total else 0)


class _Counting(io.RawIOBase):
    """A file that reports the bytes read through it, for the progress bar."""

    def __init__(self, raw, report):
        self._raw, self._report = raw, report

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._report(len(data))
        return len(data)


class IsoTime(click.ParamType):
    """Any ISO 8601 date or time a user pastes: fractional seconds, `Z` or an offset; without one it is UTC.

    UTC rather than refused because the hub's clock and storage are UTC, and a
    bare date (midnight UTC) is the usual way to ask for a day's run.
    """

    name = "time"

    def convert(self, value, param, ctx) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time, such as 2029-02-08, 2029-02-08T18:23:15Z "
                      "or 2029-02-08T18:23:15.017739+01:00", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def as_of_option(what: str):
    """`--as-of T` for a job that catches up on the past."""
    return click.option("--as-of", "as_of", type=IsoTime(), metavar="TIME",
                        help=f"{what} at this ISO 8601 time (UTC without an offset; a date is its midnight UTC) "
                             "[default: now]")


def _now_and_as_of(as_of, future: str):
    """The hub's now, and `--as-of` no later than now (a job never acts ahead of time)."""
    now = current_app.config["CLOCK"]()
    if as_of is None:
        return now, now
    if as_of > now:
        raise click.BadParameter(future, param_hint="'--as-of'")
    return now, as_of


@main.command("expire")
@as_of_option("expire what is due")
@with_appcontext
def expire_command(as_of) -> None:
    """Expire every point past its lifetime.

    Running it again posts nothing new.
    """
    from network.lifecycle import expiry

    _, as_of = _now_and_as_of(as_of, "must not be in the future")
    db = _db()
    run = expiry.Run()
    for run in expiry.expire(db.transact, db.read, as_of, expiry.Policy.from_config(current_app.config),
                             clock=current_app.config["CLOCK"]):
        pass
    click.echo(f"expired {run.points} points of {run.members} members as of {as_of.isoformat()}")


@main.group()
def holds() -> None:
    """Look after two-phase redemptions (holds)."""


@holds.command("release")
@with_appcontext
def holds_release() -> None:
    """Release every hold past its expiry.

    The held points go back to the members; running it again releases nothing.
    """
    from network.spending import holds as holding

    db = _db()
    released = holding.release_all_expired(db.transact, db.read, current_app.config["CLOCK"])
    click.echo(f"released {released} expired holds")


@main.group()
def tiers() -> None:
    """Review the network's member tiers."""


@tiers.command("review")
@as_of_option("review")
@with_appcontext
def tiers_review(as_of) -> None:
    """Move members short of their tier down one tier.

    The yearly review: a member whose qualifying points fall short of their
    tier moves down one tier.

    Once per loyalty year (COALITION_LOYALTY_YEAR_START): running it again
    the same year moves nobody a second time.
    """
    from network.lifecycle import tiers as ladder

    _, as_of = _now_and_as_of(as_of, "must not be in the future")
    db = _db()
    window = ladder.Window.from_config(current_app.config)
    run = ladder.Review()
    for run in ladder.review(db.transact, db.read, as_of, window):
        pass
    start, end = window.judged(as_of)
    click.echo(f"reviewed {run.reviewed} members on their qualifying points from {start.isoformat()} to "
               f"{end.isoformat()}: {run.moved} moved down one tier")


@main.group("analytics")
def analytics_group() -> None:
    """Jobs behind the programme's analytics."""


@analytics_group.command("fit")
@as_of_option("fit to the purchases booked before")
@with_appcontext
def analytics_fit(as_of) -> None:
    """Fit the value models behind members' predicted value.

    BG/NBD and Gamma-Gamma, one per currency members bought in.
    Reads every member's purchases grouped in the database; run it nightly
    or weekly. Each run keeps a new fit; the newest answers. Needs SciPy:
    pip install 'coalition-loyalty[model]'.
    """
    try:
        import scipy  # noqa: F401
    except ImportError:
        raise click.ClickException("fitting needs SciPy: pip install 'coalition-loyalty[model]'") from None
    from analytics.value import MIN_REPEATERS, Unfitted, currencies, fit_value_model

    now, as_of = _now_and_as_of(as_of, "must not be in the future")
    db = _db()
    for currency in db.read(currencies):
        model = db.transact(lambda session, c=currency: fit_value_model(session, c, as_of, now))
        if model is None:
            continue
        if isinstance(model, Unfitted):
            click.echo(f"{currency}: not fitted: {model.members} members, {model.repeaters} repeat buyers "
                       f"(it takes {MIN_REPEATERS})")
            continue
        frequency = ", ".join(f"{k}={v}" for k, v in model.frequency.items())
        spend = "not fitted (no spend)" if model.spend is None else ", ".join(f"{k}={v}" for k, v in model.spend.items())
        click.echo(f"{currency}: {model.members} members, {model.repeaters} repeat buyers; BG/NBD {frequency}; "
                   f"Gamma-Gamma {spend}")


@main.group()
def keys() -> None:
    """Manage the hub's statement-signing keys."""


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Sign new statements with a new key.

    Statements signed before still verify.
    """
    kid = current_app.extensions["coalition"].signing.rotate()
    click.echo(f"new signing key {kid} in {current_app.config['COALITION_SIGNING_KEYS_DIR']}")


@main.group()
def settlement() -> None:
    """Verify and reconcile settlement statements."""


@settlement.command("verify")
@click.argument("file", type=click.File("r"))
@click.option("--keys", "keys_file", type=click.File("r"), help="the hub's JWK set (GET /v1/settlement/keys); "
              "default: this hub's own keys")
@click.option("--previous", type=click.File("r"), help="the statement before, to check the chain")
@click.option("--partner-keys", type=click.File("r"), help="partners' public keys as JSON {slug: key}, to check "
              "their acknowledgements with; default: the key kept with each")
@with_appcontext
def settlement_verify(file, keys_file, previous, partner_keys) -> None:
    """Verify a statement or a partner's section offline.

    Checks the signature, the Merkle root or inclusion proof, the chain, and
    the partners' acknowledgements kept beside a statement.

    Exits 0 when every check holds, 1 naming the first that fails.
    """
    import json

    from settlement.verify import verdict

    try:
        jwks = json.load(keys_file) if keys_file else current_app.extensions["coalition"].signing.jwks()
        held, lines = verdict(json.load(file), jwks, json.load(previous) if previous else None,
                              json.load(partner_keys) if partner_keys else None)
    except ValueError as exc:  # a file that is not JSON
        held, lines = False, [f"FAIL  {exc}"]
    for line in lines:
        click.secho(line, fg="green" if held else "red")
    if not held:
        sys.exit(1)


@settlement.command("reconcile")
@click.option("--partner", "slug", required=True, help="the partner whose records these are")
@click.argument("sequence", type=int)
@click.argument("file", type=click.File("rb"))
@with_appcontext
def settlement_reconcile(slug: str, sequence: int, file) -> None:
    """Compare a partner's records with a statement's period.

    The partner's CSV (order_id,type,points) against its orders booked in the
    period of statement SEQUENCE.

    Prints what matched, what is missing on either side and what differs;
    exits 1 when anything does not match.
    """
    import json

    from network.errors import DomainError
    from settlement.reconcile import reconcile_file

    try:
        result = reconcile_file(_db(), sequence, slug, file)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(json.dumps(result, indent=2, default=str))
    clean = not (result["missing_at_hub"]["count"] or result["missing_at_partner"]["count"]
                 or result["mismatched"]["count"] or result["rejected_total"])
    sys.exit(0 if clean else 1)


@main.command("openapi")
@click.option("--output", type=click.File("w"), default="-", show_default="standard output", help="the file to write")
@with_appcontext
def openapi_command(output) -> None:
    """Write the API's OpenAPI document.

    The document GET /v1/openapi.json serves, for a partner's client
    generator or a review without a running hub.
    """
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    output.write(current_app.json.dumps(api.spec.to_dict(), indent=2, sort_keys=False) + "\n")


@main.command("demo")
@click.option("--database", type=click.Path(dir_okay=False), default=None, help="SQLite file (default: a fresh one in instance/)")
@click.option("--members", "member_count", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--sales", "sale_count", default=400, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True)
def demo_command(database: str | None, member_count: int, sale_count: int, seed: int) -> None:
    """Build a demo network through the real HTTP API, summarised."""
    from network.demo import run_demo

    sys.exit(run_demo(database, member_count=member_count, sale_count=sale_count, seed=seed))


from network import cli_aliases, cli_events, cli_staff  # noqa: E402, F401  (register `coalition aliases`, `events` and `staff`; they import this module)
