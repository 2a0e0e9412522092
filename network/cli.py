"""The `coalition` command: database, server, ledger audit and the demo."""

from __future__ import annotations

import io
import os
import sys
from datetime import timezone

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from network import create_app


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def main() -> None:
    """Coalition loyalty network hub."""


def _db():
    return current_app.extensions["coalition"].db


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to DATABASE_URL."""
    from network.schema import upgrade

    upgrade(_db().engine, revision, master_key_file=current_app.config["COALITION_MASTER_KEY_FILE"])
    click.echo(f"database at {revision}: {_db().engine.url.render_as_string(hide_password=True)}")


@main.group("members")
def members_group() -> None:
    """Members' personal data."""


@members_group.command("rewrap-keys")
@with_appcontext
def members_rewrap_keys() -> None:
    """Wrap every member's data key under the first key of COALITION_MASTER_KEY (rotation).

    Put the new key first and keep the old one after it (comma-separated),
    run this, then drop the old key. Commits a page at a time; safe to rerun.
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
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, type=int, show_default=True)
@click.option("--workers", default=lambda: os.cpu_count() or 2, type=int, help="gunicorn worker processes")
@click.option("--threads", default=4, type=int, show_default=True, help="threads per worker")
@click.option("--access-log", is_flag=True, help="log every request to standard output")
def serve_command(host: str, port: int, workers: int, threads: int, access_log: bool) -> None:
    """Serve the API with gunicorn."""
    from network.serve import serve

    serve(host, port, workers, threads, access_log)


@main.group()
def ledger() -> None:
    """Ledger audit."""


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
    """List every loaded plugin: its distribution, version and hooks, and what it provides."""
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
    """Book a partner's batch export (its adapter reads it), streaming, with a progress bar.

    Prints the same summary as POST /v1/transactions/batch; a file imported
    twice books nothing the second time.
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


def as_of_option(help: str):
    """`--as-of T` for a job that catches up on the past: a date or time, UTC unless it says otherwise."""
    return click.option("--as-of", "as_of", help=help,
                        type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]))


def _now_and_as_of(as_of, future: str):
    """The hub's now, and `--as-of` as an aware time no later than now (a job never acts ahead of time)."""
    now = current_app.config["CLOCK"]()
    if as_of is None:
        return now, now
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=timezone.utc)
    if as_of > now:
        raise click.BadParameter(future, param_hint="--as-of")
    return now, as_of


@main.command("expire")
@as_of_option("expire what is due at this time (UTC unless an offset is given); default: now")
@with_appcontext
def expire_command(as_of) -> None:
    """Post expiry entries for every point past its lifetime; running it again posts nothing new."""
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
    """Two-phase redemptions (holds)."""


@holds.command("release")
@with_appcontext
def holds_release() -> None:
    """Release every hold past its expiry (held points back to the members); running it again releases nothing."""
    from network.spending import holds as holding

    db = _db()
    released = holding.release_all_expired(db.transact, db.read, current_app.config["CLOCK"])
    click.echo(f"released {released} expired holds")


@main.group()
def tiers() -> None:
    """The network's member tiers."""


@tiers.command("review")
@as_of_option("review as of this time (UTC unless an offset is given); default: now")
@with_appcontext
def tiers_review(as_of) -> None:
    """The yearly review: a member whose qualifying points fall short of their tier moves down one tier.

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


@main.group()
def events() -> None:
    """The outbox: scans that emit events, and delivery to webhooks and plugins."""


@events.command("scan")
@as_of_option("scan as at this time (UTC unless an offset is given); default: now")
@with_appcontext
def events_scan(as_of) -> None:
    """Emit points_expiring and dormant_member events; running it again emits nothing new."""
    from network.lifecycle import scans

    now, as_of = _now_and_as_of(as_of, "must not be in the future: a warning sent early is sent once")
    done = scans.Scan()
    for done in scans.scan(_db().transact, as_of, scans.Settings.from_config(current_app.config), now=now):
        pass
    click.echo(f"scanned {done.members} members with points as of {as_of.isoformat()}: "
               f"{done.expiring} points_expiring, {done.dormant} dormant_member")


@events.command("deliver")
@click.option("--once", is_flag=True, help="one pass over what is due now, then exit")
@click.option("--interval", default=5.0, show_default=True, help="seconds between passes when running on")
@with_appcontext
def events_deliver(once: bool, interval: float) -> None:
    """Send due events to partners' webhooks and delivery plugins, retrying with backoff; every attempt is kept."""
    import time

    from network.events import delivery

    hub = current_app.extensions["coalition"]
    settings = {key: value for key, value in current_app.config.items() if key.startswith("COALITION_") and "TOKEN" not in key}
    while True:
        done = delivery.deliver(hub.db, hub.plugins, settings, current_app.config["CLOCK"])
        if once or done.attempts or done.fanned_out:
            click.echo(f"{done.fanned_out} events fanned out; {done.attempts} attempts: {done.delivered} delivered, "
                       f"{done.retrying} to retry, {done.failed} failed")
        if once:
            return
        time.sleep(interval)


@main.group()
def keys() -> None:
    """The hub's statement-signing keys."""


@keys.command("rotate")
@with_appcontext
def keys_rotate() -> None:
    """Make a new signing key and sign new statements with it; statements signed before still verify."""
    kid = current_app.extensions["coalition"].signing.rotate()
    click.echo(f"new signing key {kid} in {current_app.config['COALITION_SIGNING_KEYS_DIR']}")


@main.group()
def settlement() -> None:
    """Settlement statements."""


@settlement.command("verify")
@click.argument("file", type=click.File("r"))
@click.option("--keys", "keys_file", type=click.File("r"), help="the hub's JWK set (GET /v1/settlement/keys); "
              "default: this hub's own keys")
@click.option("--previous", type=click.File("r"), help="the statement before, to check the chain")
@with_appcontext
def settlement_verify(file, keys_file, previous) -> None:
    """Verify a statement or a partner's section offline: signature, Merkle root or inclusion proof, chain.

    Exits 0 when every check holds, 1 naming the first that fails.
    """
    import json

    from settlement.verify import VerificationFailed, check

    try:
        jwks = json.load(keys_file) if keys_file else current_app.extensions["coalition"].signing.jwks()
        checked = check(json.load(file), jwks, json.load(previous) if previous else None)
    except (VerificationFailed, ValueError) as exc:
        click.secho(f"FAIL  {exc}", fg="red")
        sys.exit(1)
    for line in checked:
        click.secho(f"ok    {line}", fg="green")


@settlement.command("reconcile")
@click.option("--partner", "slug", required=True, help="the partner whose records these are")
@click.argument("sequence", type=int)
@click.argument("file", type=click.File("rb"))
@with_appcontext
def settlement_reconcile(slug: str, sequence: int, file) -> None:
    """Compare a partner's CSV (order_id,type,points) with its orders booked in a statement's period.

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


@main.command("demo")
@click.option("--database", type=click.Path(dir_okay=False), default=None, help="SQLite file (default: a fresh one in instance/)")
@click.option("--members", "member_count", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--sales", "sale_count", default=400, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True)
def demo_command(database: str | None, member_count: int, sale_count: int, seed: int) -> None:
    """Build a demo network through the real HTTP API and summarise it."""
    from network.demo import run_demo

    sys.exit(run_demo(database, member_count=member_count, sale_count=sale_count, seed=seed))
