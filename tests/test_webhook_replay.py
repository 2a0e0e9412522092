"""Nothing lost: a failed delivery is sent again, one by hand or every one since an outage, from the API, the portal
and the command line.

Sending again starts a fresh set of tries (`attempts` 0, due now, no attempt
in flight) and keeps the attempts already made in the log. A refusal (not
this partner's, not failed, a bad `since`) changes nothing. The failed rows
are written straight into the database (tests/support/failed_deliveries.py),
so none of this depends on how the deliverer times its attempts.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from network.models import AuditEvent
from network.parties.registry import get_partner
from tests.support import webhooks as hooks
from tests.support.browsing import confined, look, sign_in
from tests.support.failed_deliveries import attempts_of, deliveries, failed_delivery
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.ledger import snapshot
from tests.support.pages import PASSWORD, add_person, csrf, signed_in
from tests.support.portal import figure, marked
from tests.support.webhooks import deliver, register

URL = "https://hooks.brew-bar.example/coalition"
RETRY = "/v1/partners/{slug}/webhook/deliveries/{id}/retry"
REPLAY = "/v1/partners/brew-bar/webhook/deliveries/replay"

receiver = hooks.receiver  # the fixture: real HTTP servers on 127.0.0.1


def unchanged(database):
    """What a refusal must leave as it was: every delivery's state, every table's row count."""
    return deliveries(database), snapshot(database)


def partner_id(database, slug: str) -> int:
    return database.read(lambda session: get_partner(session, slug).id)


# ---------------------------------------------------------------- one delivery, by hand


def test_a_retried_delivery_is_due_now_with_a_fresh_set_of_tries_and_its_attempts_kept(world, database, clock):
    hub = world.hub
    assert register(hub, "brew-bar", URL, world.coffee).status_code == 200
    failed = failed_delivery(database, "brew-bar", at=clock.now - timedelta(hours=1), attempts=3)
    clock.advance(minutes=5)

    retried = hub.call("POST", RETRY.format(slug="brew-bar", id=failed), world.coffee)
    assert retried.status_code == 200, retried.json
    assert deliveries(database)[failed] == ("pending", 0, clock.now, None)
    assert attempts_of(database, failed) == 3
    assert [a["status_code"] for a in retried.json["attempts"]] == [500, 500, 500]
    listed = hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries", world.coffee).json["items"]
    assert listed == [retried.json]  # the delivery as the list shows it
    assert (retried.json["status"], retried.json["next_attempt_at"]) == ("pending", clock.now.isoformat())

    # Audited, as the partner's, whoever asked.
    events = database.read(lambda session: session.execute(
        select(AuditEvent.action, AuditEvent.partner_id, AuditEvent.after).order_by(AuditEvent.id.desc()).limit(1)).all())
    assert events == [("POST /v1/partners/<slug>/webhook/deliveries/<int:delivery_id>/retry",
                       partner_id(database, "brew-bar"), {"delivery_id": failed, "status": "pending"})]

    before = unchanged(database)
    again = hub.call("POST", RETRY.format(slug="brew-bar", id=failed), world.coffee)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    assert "only a failed one" in again.json["error"]["message"]
    assert unchanged(database) == before


def test_only_a_failed_delivery_of_the_partners_own_webhook_is_retried_and_a_refusal_changes_nothing(
        world, database, clock):
    hub = world.hub
    register(hub, "brew-bar", URL, world.coffee)
    register(hub, "green-grocer", "https://hooks.grocer.example/in", world.grocer)
    failed = failed_delivery(database, "brew-bar", at=clock.now)
    delivered = failed_delivery(database, "brew-bar", at=clock.now, status="delivered", attempts=1)
    sending = failed_delivery(database, "brew-bar", at=clock.now, status="sending", attempts=1)
    before = unchanged(database)

    refusals = [
        (hub.call("POST", RETRY.format(slug="brew-bar", id=failed), world.grocer), 403, "wrong_partner"),
        (hub.call("POST", RETRY.format(slug="green-grocer", id=failed), world.grocer), 404, "not_found"),
        (hub.call("POST", RETRY.format(slug="brew-bar", id=987654), world.coffee), 404, "not_found"),
        (hub.call("POST", RETRY.format(slug="brew-bar", id=delivered), world.coffee), 409, "conflict"),
        (hub.call("POST", RETRY.format(slug="brew-bar", id=sending), world.coffee), 409, "conflict"),
    ]
    assert [(r.status_code, r.json["error"]["code"]) for r, _, _ in refusals] == [(s, c) for _, s, c in refusals]
    assert unchanged(database) == before

    # The webhook removed: nowhere to send it (its failed deliveries stay failed).
    assert hub.call("DELETE", "/v1/partners/brew-bar/webhook", world.coffee).status_code == 200
    removed = hub.call("POST", RETRY.format(slug="brew-bar", id=failed), world.coffee)
    assert removed.status_code == 409 and "removed" in removed.json["error"]["message"]
    assert deliveries(database)[failed][0] == "failed"

    # Registered again, the operator retries it for the partner.
    register(hub, "brew-bar", URL, world.coffee)
    assert hub.call("POST", RETRY.format(slug="brew-bar", id=failed)).status_code == 200
    assert deliveries(database)[failed] == ("pending", 0, clock.now, None)


# ---------------------------------------------------------------- every failed one, after an outage


def test_a_replay_sends_every_failed_delivery_of_the_partners_webhook_since_a_time_again(world, database, clock):
    hub = world.hub
    register(hub, "brew-bar", URL, world.coffee)
    register(hub, "green-grocer", "https://hooks.grocer.example/in", world.grocer)
    t = clock.now
    old = failed_delivery(database, "brew-bar", at=t - timedelta(hours=3))
    at_since = failed_delivery(database, "brew-bar", at=t - timedelta(hours=2))
    recent = failed_delivery(database, "brew-bar", at=t - timedelta(minutes=30), attempts=5)
    delivered = failed_delivery(database, "brew-bar", at=t - timedelta(minutes=20), status="delivered", attempts=1)
    grocers = failed_delivery(database, "green-grocer", at=t - timedelta(minutes=10))
    plugins = failed_delivery(database, "brew-bar", at=t - timedelta(minutes=10), plugin="sms")
    clock.advance(minutes=1)
    untouched = {key: value for key, value in deliveries(database).items() if key in (old, delivered, grocers, plugins)}

    since = (t - timedelta(hours=2)).isoformat()
    replayed = hub.call("POST", REPLAY, world.coffee, query_string={"since": since})
    assert replayed.status_code == 200, replayed.json
    assert replayed.json == {"replayed": 2, "since": since}
    now = deliveries(database)
    assert now[at_since] == now[recent] == ("pending", 0, clock.now, None)
    assert {key: now[key] for key in untouched} == untouched  # before `since`, delivered, another's, a plugin's
    assert attempts_of(database, recent) == 5
    listed = hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries?status=pending", world.coffee).json["items"]
    assert [(d["id"], len(d["attempts"])) for d in listed] == [(recent, 5), (at_since, 3)]

    # Without `since`: every failed one left; a second replay finds none.
    everything = hub.call("POST", REPLAY, world.coffee)
    assert everything.status_code == 200 and everything.json == {"replayed": 1, "since": None}
    assert deliveries(database)[old][0] == "pending"
    assert hub.call("POST", REPLAY).json == {"replayed": 0, "since": None}  # the operator's
    assert deliveries(database)[grocers][0] == deliveries(database)[plugins][0] == "failed"


@pytest.mark.parametrize(("since", "said"), [
    ("2026-03-14T08:00:00", "aware"),  # no offset: which 08:00?
    ("yesterday", "datetime"),
    ("", "datetime"),
    ("2026-03-14T10:30:00+00:00", "future"),  # an hour after the test's clock
])
def test_a_bad_since_is_a_422_naming_it_and_changes_nothing(world, database, clock, since, said):
    register(world.hub, "brew-bar", URL, world.coffee)
    failed_delivery(database, "brew-bar", at=clock.now - timedelta(hours=1))
    before = unchanged(database)
    refused = world.hub.call("POST", REPLAY, world.coffee, query_string={"since": since})
    assert refused.status_code == 422 and refused.json["error"]["code"] == "validation_error"
    assert said in " ".join(refused.json["error"]["details"]["since"])
    assert unchanged(database) == before


def test_a_replay_is_the_partners_own_and_needs_its_webhook(world, database, clock):
    hub = world.hub
    register(hub, "brew-bar", URL, world.coffee)
    failed = failed_delivery(database, "brew-bar", at=clock.now)
    before = unchanged(database)
    other = hub.call("POST", REPLAY, world.grocer)
    assert other.status_code == 403 and other.json["error"]["code"] == "wrong_partner"
    none = hub.call("POST", "/v1/partners/green-grocer/webhook/deliveries/replay", world.grocer)
    assert none.status_code == 404 and none.json["error"]["code"] == "no_webhook"
    assert unchanged(database) == before
    hub.call("DELETE", "/v1/partners/brew-bar/webhook", world.coffee)
    gone = hub.call("POST", REPLAY, world.coffee)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "no_webhook"
    assert deliveries(database)[failed][0] == "failed"


def test_an_idempotency_key_is_held_to_its_since(world, database, clock):
    hub = world.hub
    register(hub, "brew-bar", URL, world.coffee)
    failed_delivery(database, "brew-bar", at=clock.now - timedelta(hours=1))
    since = {"since": (clock.now - timedelta(hours=2)).isoformat()}
    key = {"Idempotency-Key": "replay-after-the-outage"}
    first = hub.call("POST", REPLAY, world.coffee, headers=key, query_string=since)
    assert first.json["replayed"] == 1
    again = hub.call("POST", REPLAY, world.coffee, headers=key, query_string=since)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = hub.call("POST", REPLAY, world.coffee, headers=key)  # the same key, another request
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_key_reused"


def test_a_replayed_event_reaches_the_receiver_again_under_its_own_id(world, app, database, clock, receiver):
    """End to end through the deliverer: what failed at the receiver is sent again once it is back, the same event."""
    hub = world.hub
    server = receiver(["500"])
    register(hub, "brew-bar", server.url, world.coffee)
    assert hub.sale(world.coffee, world.card, "12.50").status_code == 201
    assert deliver(app, clock, COALITION_WEBHOOK_MAX_ATTEMPTS=1).failed == 1
    (failed,) = deliveries(database)
    clock.advance(minutes=10)
    assert hub.call("POST", REPLAY, world.coffee).json["replayed"] == 1
    assert deliver(app, clock, COALITION_WEBHOOK_MAX_ATTEMPTS=1).delivered == 1
    assert deliveries(database)[failed][0] == "delivered" and attempts_of(database, failed) == 2
    assert [r["verified"] for r in server.requests] == [True, True]
    assert len({r["event_id"] for r in server.requests}) == 1  # what a receiver deduplicates on
    assert len({r["body"] for r in server.requests}) == 1


# ---------------------------------------------------------------- the command line


def test_coalition_events_replay_queues_failed_webhook_and_plugin_deliveries_again(world, database, clock, runner):
    hub = world.hub
    register(hub, "brew-bar", URL, world.coffee)
    register(hub, "green-grocer", "https://hooks.grocer.example/in", world.grocer)
    t = clock.now
    brews = failed_delivery(database, "brew-bar", at=t - timedelta(hours=1))
    brews_plugin = failed_delivery(database, "brew-bar", at=t - timedelta(hours=1), plugin="sms")
    old_brews = failed_delivery(database, "brew-bar", at=t - timedelta(days=2))
    grocers = failed_delivery(database, "green-grocer", at=t - timedelta(hours=1))
    clock.advance(minutes=1)

    for refused, said in ((["--since", (t + timedelta(hours=1)).isoformat()], "must not be in the future"),
                          (["--since", "soon"], "is not an ISO 8601 date or time"),
                          (["--partner", "no-such-partner"], "no-such-partner")):
        before = unchanged(database)
        result = runner.invoke(["events", "replay", *refused])
        assert result.exit_code != 0 and said in result.output, result.output
        assert unchanged(database) == before

    result = runner.invoke(["events", "replay", "--partner", "brew-bar", "--since", (t - timedelta(days=1)).isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 failed deliveries queued again"
    states = deliveries(database)
    assert states[brews] == states[brews_plugin] == ("pending", 0, clock.now, None)
    assert states[old_brews][0] == states[grocers][0] == "failed"

    result = runner.invoke(["events", "replay"])
    assert result.exit_code == 0 and result.output.strip() == "2 failed deliveries queued again"
    assert {state[0] for state in deliveries(database).values()} == {"pending"}


# ---------------------------------------------------------------- the portal


def post(client, path: str, data: dict | None = None):
    """The webhook page's form, sent with the page's CSRF token."""
    token = csrf(client.get("/portal/brew-bar/webhook").get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token})


def test_the_portal_sends_failed_deliveries_since_a_time_of_the_partners_zone_again(app, world, database, clock):
    register(world.hub, "brew-bar", URL, world.coffee)
    t = clock.now  # 09:30 UTC, 10:30 in Paris
    early = failed_delivery(database, "brew-bar", at=t.replace(hour=7, minute=45))  # 08:45 in Paris
    later = failed_delivery(database, "brew-bar", at=t.replace(hour=8, minute=15))  # 09:15 in Paris
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    page = client.get("/portal/brew-bar/webhook").get_data(as_text=True)
    assert "Send failed deliveries again" in page and "Europe/Paris time" in page

    for typed, said in (("14 March", "Give a date and a time"), ("2026-03-14T11:00", "must not be in the future")):
        before = unchanged(database)
        refused = post(client, "/portal/brew-bar/webhook/replay", {"since": typed})
        assert refused.status_code == 422
        shown = refused.get_data(as_text=True)
        assert said in shown and f'value="{typed}"' in shown and 'aria-describedby="since-error"' in shown
        assert unchanged(database) == before

    sent = post(client, "/portal/brew-bar/webhook/replay", {"since": "2026-03-14T09:00"})  # 08:00 UTC
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert figure(page, "replayed").startswith("1 failed deliveries queued again")
    assert deliveries(database)[later] == ("pending", 0, clock.now, None)
    assert deliveries(database)[early][0] == "failed"
    assert dict(zip(map(int, marked(page, "delivery")), marked(page, "status"))) == {later: "pending", early: "failed"}

    everything = post(client, "/portal/brew-bar/webhook/replay", {"since": ""})
    assert everything.status_code == 302 and "replayed=1" in everything.headers["Location"]
    assert deliveries(database)[early][0] == "pending"


def test_another_partners_people_cannot_replay_its_deliveries(app, world, database, clock):
    register(world.hub, "brew-bar", URL, world.coffee)
    failed_delivery(database, "brew-bar", at=clock.now)
    grocer = signed_in(app, "boss@grocer.example", "partner_admin", "green-grocer")
    staff = signed_in(app, "stan@brew.example", "partner_staff", "brew-bar")  # brew-bar's, not an admin
    before = unchanged(database)
    token = csrf(grocer.get("/portal/green-grocer/webhook").get_data(as_text=True))
    assert grocer.post("/portal/brew-bar/webhook/replay", data={"csrf_token": token}).status_code == 404
    token = csrf(staff.get("/portal/brew-bar").get_data(as_text=True))
    assert staff.post("/portal/brew-bar/webhook/replay", data={"csrf_token": token}).status_code == 403
    assert unchanged(database) == before


def test_the_replay_form_and_what_it_answers_pass_axe_in_a_browser(browser, served, shots):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    World.build(hub)
    database, clock = app.extensions["coalition"].db, app.config["CLOCK"]
    register(hub, "brew-bar", URL)
    failed_delivery(database, "brew-bar", at=clock() - timedelta(hours=1))
    add_person(app, "boss@brew.example", "partner_admin", "brew-bar")

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "boss@brew.example", PASSWORD)
    page.goto(base + "/portal/brew-bar/webhook")
    page.get_by_label("Only events since").fill("2026-03-14T11:00")  # ahead of the clock: refused
    page.get_by_role("button", name="Send failed deliveries again").click()
    page.locator("#since-error").wait_for()
    assert look(page, "portal-webhook-replay-refused", shots, elsewhere) == []
    page.get_by_label("Only events since").fill("")
    page.get_by_role("button", name="Send failed deliveries again").click()
    notice = page.locator("[data-figure=replayed]")
    assert notice.inner_text().startswith("1 failed deliveries queued again")
    assert look(page, "portal-webhook-replayed", shots, elsewhere) == []
    context.close()
