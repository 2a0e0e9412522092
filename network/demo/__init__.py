"""`coalition demo`: a small coalition built through the real HTTP API, then reported for each of its users.

The hub runs in this process and the demo talks to it over HTTP exactly as
tills and the operator would (network.demo.client); nothing is written to
the database behind the API's back but by the hub's own jobs, run as cron
would run them. The scenes, in the order they run:

1. partners onboard (network.demo.partners), and sign their contracts (finance);
2. a member's life years ago: pending points and their expiry (life);
3. members enrol, earn and spend over four weeks (members), and the partner
   plugins do their work (plugins);
4. today: tiers, a nudge, an adjustment and a hold (life);
5. finance closes the period, saves the signed statement and verifies it offline (finance);
6. a finance user, a partner's manager and a member's wallet link for the pages (faces).

The report (network.demo.report) then prints what partners, members and
finance each see, from the database and the statement (network.demo.summary).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from random import Random
from zoneinfo import ZoneInfo

import click

from network.demo import faces, finance, life, members, partners, plugins
from network.demo.catalogue import PARTNERS, TIMEZONE
from network.demo.client import DemoError, serving
from network.demo.database import default_database, fresh_file
from network.demo.plan import Weeks, plan
from network.demo.report import Run, next_steps, report
from network.demo.stage import DemoClock, Stage
from network.demo.summary import read

SCENES = ("partners onboard", "years ago", "members", "the four weeks", "plugins", "balances read back", "today",
          "settlement")


def run_demo(database: str | None, *, member_count: int, sale_count: int, seed: int) -> int:
    """Build the demo network through the API and report it; 0 if the ledger and the statement hold."""
    if member_count < 1 or sale_count < 1:
        raise click.UsageError("--members and --sales must be at least 1")
    path = Path(database).resolve() if database else default_database()
    fresh_file(path)
    app = _hub(path)
    started = time.monotonic()
    rng = Random(seed)
    people, events = plan(rng, member_count, sale_count)
    try:
        with serving(app) as client:
            stage = Stage(client, app.config["COALITION_ADMIN_TOKEN"], app)
            closed = _scenes(stage, rng, people, events, path)
            top = max(people, key=lambda m: (m.available, -m.index))
            shown = faces.make(stage, path, PARTNERS[0].slug, (top.member_id, stage.keys[PARTNERS[top.home].slug]))
            url = f"http://127.0.0.1:{client.connection.port}/v1"
            run = Run(seed, path, url, client.requests, time.monotonic() - started)
        with stage.db.session() as session:
            summary = read(session, closed.statement["statement"])
    except DemoError as exc:
        click.secho(f"demo failed: {exc}", fg="red", err=True)
        return 1
    finally:
        app.extensions["coalition"].db.engine.dispose()  # closes the file (and checkpoints its WAL) before anyone opens it
    report(run, stage, people, summary, closed)
    next_steps(path, stage.keys[PARTNERS[0].slug], top.card, shown, closed)
    verified = all(v.status == 0 for v in closed.verifications)
    return 0 if verified and not any(summary.ledger.values()) and not stage.tally.mismatched_balances else 1


def _hub(path: Path):
    """The hub on the demo's SQLite file, its keys beside it, on a clock the demo moves, with no settlement grace."""
    from network import create_app
    from network.schema import upgrade

    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "COALITION_ADMIN_TOKEN": secrets.token_urlsafe(24),
                      "COALITION_MASTER_KEY_FILE": str(path.parent / "master.key"),
                      "COALITION_SIGNING_KEYS_DIR": str(path.parent / "settlement-keys"),
                      "COALITION_SETTLEMENT_GRACE_SECONDS": 0, "CLOCK": DemoClock(),
                      "COALITION_ACCESS_LOG": False,  # an access line per request would drown the summary
                      # A month of a network's traffic in seconds, on its own clock: no real-time budget applies.
                      "COALITION_RATE_LIMIT": "off", "COALITION_RATE_LIMIT_ANONYMOUS": "off", "COALITION_REDIS_URL": None})
    upgrade(app.extensions["coalition"].db.engine)
    return app


def _scenes(stage: Stage, rng: Random, people: list, events: list, path: Path) -> finance.Closed:
    """Every request of the demo, scene by scene, under one progress bar."""
    with click.progressbar(length=len(SCENES), label="Building the network", show_pos=True,
                           item_show_func=lambda label: label) as bar:

        def done(label: str) -> None:
            bar.update(1, label)

        inbound = partners.onboard(stage)
        finance.sign_contracts(stage)
        done("partners onboard")
        life.years_ago(stage)
        done("years ago")
        members.enrol(stage, people)
        done("members")
        weeks = Weeks.before(stage.clock().astimezone(ZoneInfo(TIMEZONE)))
        members.four_weeks(stage, rng, people, events, weeks)
        done("the four weeks")
        plugins.at_work(stage, rng, people, inbound, weeks.at)
        done("plugins")
        members.read_back(stage, people)
        done("balances read back")
        life.today(stage)
        done("today")
        closed = finance.close_period(stage, path.parent / "demo-settlement")
        done("settlement")
    return closed
