"""`coalition events`: the outbox from the shell: scans that emit, the deliverer, replays, pruning and its figures."""

from __future__ import annotations

import click
from flask import current_app

from network.cli import IsoTime, _db, _now_and_as_of, as_of_option, main, with_appcontext


@main.group()
def events() -> None:
    """Emit events and deliver them (the outbox)."""


@events.command("scan")
@as_of_option("scan")
@with_appcontext
def events_scan(as_of) -> None:
    """Emit points_expiring and dormant_member events.

    Running it again emits nothing new.
    """
    from network.lifecycle import scans

    now, as_of = _now_and_as_of(as_of, "must not be in the future: a warning sent early is sent once")
    done = scans.Scan()
    for done in scans.scan(_db().transact, as_of, scans.Settings.from_config(current_app.config), now=now):
        pass
    click.echo(f"scanned {done.members} members with points as of {as_of.isoformat()}: "
               f"{done.expiring} points_expiring, {done.dormant} dormant_member")


@events.command("deliver")
@click.option("--once", is_flag=True, help="one pass over what is due now, then exit")
@click.option("--interval", default=0.2, type=click.FloatRange(0.01, 60),
              help="seconds between looks for new events and retries come due")
@click.option("--threads", default=16, type=click.IntRange(1, 256), help="attempts in flight at once")
@with_appcontext
def events_deliver(once: bool, interval: float, threads: int) -> None:
    """Send events to webhooks and delivery plugins as they come.

    Each webhook in its own lane; run as many of these as the load needs.
    Running on, it also prunes delivered events past the retention hourly.
    """
    import signal
    import threading
    from datetime import timedelta

    from network.config import plugin_settings
    from network.events import deliverer, retention

    hub = current_app.extensions["coalition"]
    settings = plugin_settings(current_app.config)
    clock = current_app.config["CLOCK"]
    if once:
        done = deliverer.deliver(hub.db, hub.plugins, settings, clock, threads=threads)
        click.echo(f"{done.fanned_out} events fanned out; {done.attempts} attempts: {done.delivered} delivered, "
                   f"{done.retrying} to retry, {done.failed} failed")
        return
    stop = threading.Event()
    for name in ("SIGTERM", "SIGINT"):
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    running = deliverer.Deliverer(hub.db, hub.plugins, settings, clock, threads=threads)
    click.echo(f"delivering with {threads} threads, {running.policy.concurrency} at once per webhook; "
               f"each attempt within {running.policy.timeout:g} s", err=True)
    keep = timedelta(days=max(1, current_app.config["COALITION_EVENT_RETENTION_DAYS"]))

    def prune_hourly() -> None:  # beside the sending, never in its way
        while True:
            try:
                retention.prune(hub.db.transact, now=clock(), keep=keep)
            except Exception as exc:  # noqa: BLE001 - the next hour tries again
                click.echo(f"pruning failed: {exc!r}", err=True)
            if stop.wait(3600):
                return

    threading.Thread(target=prune_hourly, name="prune", daemon=True).start()
    running.run(stop, interval)
    done = running.done
    click.echo(f"stopped: {done.fanned_out} events fanned out; {done.attempts} attempts: {done.delivered} delivered, "
               f"{done.retrying} to retry, {done.failed} failed", err=True)


@events.command("replay")
@click.option("--partner", "slug", help="only this partner's events (its webhook's and the plugins' deliveries)")
@click.option("--since", type=IsoTime(), metavar="TIME",
              help="only events made at or after this ISO 8601 time (UTC without an offset) [default: all]")
@with_appcontext
def events_replay(slug: str | None, since) -> None:
    """Queue failed deliveries again, each with a fresh set of tries.

    To webhooks still registered and to delivery plugins; the attempts
    already made are kept. Receivers deduplicate on the event id.
    """
    from network.errors import DomainError
    from network.events import replay
    from network.parties.registry import get_partner

    now = current_app.config["CLOCK"]()
    if since is not None and since > now:
        raise click.BadParameter("must not be in the future", param_hint="'--since'")

    def work(session):
        partner_id = None if slug is None else get_partner(session, slug).id
        return replay.replay_all(session, since=since, now=now, partner_id=partner_id)

    try:
        count = _db().transact(work)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{count} failed deliveries queued again")


@events.command("prune")
@click.option("--days", type=click.IntRange(min=1), help="keep this many days of delivered events "
              "[default: COALITION_EVENT_RETENTION_DAYS]")
@with_appcontext
def events_prune(days: int | None) -> None:
    """Remove delivered events past the retention, with their attempts.

    An event with a delivery pending, being sent or failed is kept whole.
    A scan's event keeps its row, so the scan never emits it again.
    """
    from datetime import timedelta

    from network.events import retention

    if days is None:
        days = current_app.config["COALITION_EVENT_RETENTION_DAYS"]
        if days < 1:
            raise click.ClickException(f"COALITION_EVENT_RETENTION_DAYS must be at least 1, not {days}")
    now = current_app.config["CLOCK"]()
    done = retention.prune(_db().transact, now=now, keep=timedelta(days=days))
    click.echo(f"removed {done.events} events, {done.deliveries} deliveries, {done.attempts} attempts older than "
               f"{(now - timedelta(days=days)).isoformat()}; kept what is not delivered")


@events.command("status")
@with_appcontext
def events_status() -> None:
    """Show the outbox's backlog and how each webhook is doing.

    Success rate and latency are over the attempts that ended in the last
    15 minutes; a webhook whose circuit breaker tripped says until when.
    """
    from network.events import figures

    now = current_app.config["CLOCK"]()
    outbox, webhooks = _db().read(lambda session: (figures.backlog(session, now), figures.per_webhook(session, now)))
    click.echo(f"events not fanned out: {outbox.not_fanned_out}\n"
               f"deliveries due now: {outbox.due}" + (f" (the oldest {outbox.oldest_due_seconds} s past its time)"
                                                     if outbox.due else "") + "\n"
               f"waiting for a retry: {outbox.waiting}\nbeing sent: {outbox.in_flight}\nfailed: {outbox.failed}")
    if not webhooks:
        click.echo("\nno partner has a webhook")
        return
    minutes = int(figures.WINDOW.total_seconds() // 60)
    rows = [("partner", "pending", "failed", f"success ({minutes} min)", "p50 ms", "p95 ms", "breaker")]
    for one in webhooks:
        ratio = one.success_ratio
        success = "-" if ratio is None else f"{ratio * 100:.1f}% of {one.finished}"
        breaker = (f"paused until {one.paused_until.isoformat()}" if one.paused
                   else f"{one.failures} failed in a row" if one.failures else "")
        rows.append((one.partner, str(one.pending), str(one.failed), success, "-" if one.p50_ms is None else str(one.p50_ms),
                     "-" if one.p95_ms is None else str(one.p95_ms), breaker))
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    click.echo("")
    for row in rows:  # names and words to the left, figures to the right
        cells = [cell.ljust(width) if n in (0, 3, 6) else cell.rjust(width) for n, (cell, width) in enumerate(zip(row, widths))]
        click.echo("  ".join(cells).rstrip())
