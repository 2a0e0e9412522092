"""/metrics in one process: what each figure counts, the labels it may take, and who may read it.

prometheus-client's figures are per process and never reset, so each test
reads them before and after what it does and checks the difference. The
figures added up across gunicorn's workers are tests/test_operations_under_gunicorn.py's.
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import func, select

from network.events.kinds import DeliveryStatus
from network.models import Delivery, Event
from network.ops import metrics_dir
from partners.cards import luhn_check_digit
from tests.support import webhooks as hooks
from tests.support.hub import order_id
from tests.support.metrics import samples, scrape, value
from tests.support.webhooks import deliver, register

receiver = hooks.receiver  # the fixture: real HTTP servers on 127.0.0.1


def sale(hub, key: str, card: str, total: str, order: str, idempotency_key: str | None = None):
    return hub.call("POST", "/v1/transactions", key, headers={"Idempotency-Key": idempotency_key} if idempotency_key else {},
                    json={"type": "sale", "order_id": order, "card_number": card, "occurred_at": "2026-03-14T10:30:00+01:00",
                          "currency": "EUR", "total": total})


def test_requests_are_counted_by_url_rule_method_and_status_never_by_raw_path(hub, world):
    before = scrape(hub.client)
    for _ in range(3):
        assert hub.client.get(f"/v1/cards/{world.card}/balance", headers=hub.bearer(world.coffee)).status_code == 200
    nobody = "700000000000001" + luhn_check_digit("700000000000001")
    assert hub.client.get(f"/v1/cards/{nobody}/balance", headers=hub.bearer(world.coffee)).status_code == 404
    assert hub.client.open("/healthz", method="BREW").status_code == 405  # a method the caller made up
    response = hub.client.get("/metrics")
    after = samples(response.get_data(as_text=True))
    rule = {"route": "/v1/cards/<card_number>/balance", "method": "GET"}

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("coalition_http_requests_total", **rule, status="200") == 3
    assert grew("coalition_http_requests_total", **rule, status="404") == 1
    assert grew("coalition_http_request_duration_seconds_count", **rule) == 4
    assert grew("coalition_http_request_duration_seconds_bucket", **rule, le="+Inf") == 4
    assert grew("coalition_http_requests_total", route="unmatched", method="other", status="405") == 1
    text = response.get_data(as_text=True)
    assert world.card not in text and nobody not in text and "BREW" not in text
    assert "_created" not in text


def test_earns_and_their_points_are_counted_once_committed_and_never_for_a_replay(hub, world):
    before = scrape(hub.client)
    first = sale(hub, world.coffee, world.card, "12.00", "S-M-1", idempotency_key="m-1")
    replay = sale(hub, world.coffee, world.card, "12.00", "S-M-1", idempotency_key="m-1")
    duplicate = sale(hub, world.coffee, world.card, "12.00", "S-M-1")
    second = sale(hub, world.grocer, world.card, "5.00", "S-M-2")
    assert (first.status_code, replay.status_code, duplicate.status_code, second.status_code) == (201, 201, 409, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    after = scrape(hub.client)
    assert value(after, "coalition_earns_total", channel="transactions") - value(
        before, "coalition_earns_total", channel="transactions") == 2
    assert value(after, "coalition_points_earned_total", channel="transactions") - value(
        before, "coalition_points_earned_total", channel="transactions") == first.json["points"] + second.json["points"] == 22


def test_a_refund_is_no_earn(hub, world):
    assert sale(hub, world.coffee, world.card, "12.00", "S-M-3").status_code == 201
    before = scrape(hub.client)
    assert hub.refund(world.coffee, "S-M-3", "2.00").status_code == 201
    assert value(scrape(hub.client), "coalition_earns_total") == value(before, "coalition_earns_total")


def test_redemptions_captures_and_donations_are_counted_refusals_are_not(hub, world):
    assert sale(hub, world.coffee, world.card, "100.00", "S-M-4").status_code == 201
    hub.create_partner("food-bank", kind="charity")
    before = scrape(hub.client)
    assert hub.redeem(world.grocer, world.card, 10).status_code == 201
    assert hub.redeem(world.grocer, world.card, 10_000).status_code == 422  # insufficient_points: nothing booked
    held = hub.call("POST", "/v1/redemptions", world.grocer, json={"card_number": world.card, "points": 30,
                                                                   "order_id": order_id("H"), "capture": False})
    assert held.status_code == 201
    captured = hub.call("POST", f"/v1/redemptions/{held.json['redemption_id']}/capture", world.grocer, json={"points": 20})
    assert captured.status_code == 201
    donated = hub.call("POST", "/v1/donations", world.coffee, json={"card_number": world.card, "charity": "food-bank",
                                                                     "points": 5})
    assert donated.status_code == 201
    after = scrape(hub.client)

    def grew(name, channel):
        return value(after, name, channel=channel) - value(before, name, channel=channel)

    assert [grew("coalition_redemptions_total", channel) for channel in ("redemptions", "captures", "donations")] == [1, 1, 1]
    assert [grew("coalition_points_redeemed_total", channel) for channel in ("redemptions", "captures", "donations")] == [
        10, 20, 5]


def test_a_batch_counts_its_sales_and_an_action_its_award(hub, world):
    corner = hub.create_partner("corner", adapter="csv")
    before = scrape(hub.client)
    rows = ("order_id,type,card_number,occurred_at,currency,total,original_order_id\n"
            f"B-1,sale,{world.card},2026-03-14T10:30:00+01:00,EUR,10.00,\n"
            f"B-2,sale,{world.card},2026-03-14T10:31:00+01:00,EUR,4.00,\n"
            f"B-3,refund,{world.card},2026-03-14T10:32:00+01:00,EUR,2.00,B-1\n"
            f"B-4,sale,{world.card},2026-03-14T10:33:00+01:00,EUR,12.505,\n")
    batch = hub.call("POST", "/v1/transactions/batch", corner, data=rows, content_type="text/csv")
    assert (batch.status_code, batch.json["accepted"], batch.json["rejected_total"]) == (200, 3, 1), batch.json
    hub.put_rules("brew-bar", [{"rule": "base_rate", "rate": "1"},
                               {"rule": "action", "action": "review", "points": 25, "per_day": 1}])
    action = hub.call("POST", "/v1/actions", world.coffee, json={"card_number": world.card, "action": "review",
                                                                  "reference": "review-1"})
    assert action.status_code == 201, action.json
    after = scrape(hub.client)

    def grew(name, channel):
        return value(after, name, channel=channel) - value(before, name, channel=channel)

    assert (grew("coalition_earns_total", "batch"), grew("coalition_points_earned_total", "batch")) == (2, 14)
    assert (grew("coalition_earns_total", "actions"), grew("coalition_points_earned_total", "actions")) == (1, 25)


def counts(database) -> tuple[int, int]:
    with database.session() as session:
        return (session.scalar(select(func.count()).select_from(Event).where(Event.fanned_out_at.is_(None))),
                session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.PENDING)))


def test_the_outbox_backlog_is_read_from_the_database_and_failed_attempts_are_counted(hub, world, app, database, clock):
    with socket.socket() as unused:  # a port nobody listens on: every attempt fails
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True
    assert register(hub, "brew-bar", f"http://127.0.0.1:{port}/hook").status_code == 200
    for n in range(3):
        assert sale(hub, world.coffee, world.card, "5.00", f"S-Q-{n}").status_code == 201
    found = scrape(hub.client)
    events, pending = counts(database)
    assert events >= 3
    assert (value(found, "coalition_outbox_events_not_fanned_out"), value(found, "coalition_outbox_pending_deliveries")) == (
        events, pending)
    failures = value(found, "coalition_webhook_failures_total", channel="webhook", outcome="retrying")

    assert deliver(app, clock).retrying == 3
    found = scrape(hub.client)
    assert counts(database) == (0, 3)
    assert (value(found, "coalition_outbox_events_not_fanned_out"), value(found, "coalition_outbox_pending_deliveries")) == (0, 3)
    assert value(found, "coalition_webhook_failures_total", channel="webhook", outcome="retrying") - failures == 3


def test_metrics_need_the_token_once_one_is_set(app, client):
    app.config["COALITION_METRICS_TOKEN"] = "scrape-me"
    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert (missing.status_code, missing.json["error"]["code"]) == (401, "missing_token")
    assert (wrong.status_code, wrong.json["error"]["code"]) == (401, "unauthenticated")
    found = scrape(client, {"Authorization": "Bearer scrape-me"})
    assert value(found, "coalition_http_requests_total", route="/metrics", status="401") >= 2


def test_the_workers_directory_is_made_anew_or_emptied_of_what_a_former_run_left(tmp_path):
    given = tmp_path / "metrics"
    given.mkdir()
    for name in ("counter_41.db", "histogram_41.db", "gauge_livesum_41.db", "notes.txt"):
        (given / name).write_text("left")
    environ = {metrics_dir.VARIABLE: str(given)}
    assert metrics_dir.prepare(environ) == (str(given), False)
    assert sorted(path.name for path in given.iterdir()) == ["notes.txt"]  # only prometheus-client's own files go

    environ = {}
    made, fresh = metrics_dir.prepare(environ)
    assert fresh and environ[metrics_dir.VARIABLE] == made and not list(metrics_dir.Path(made).iterdir())
    metrics_dir.remove(made)
    assert not metrics_dir.Path(made).exists()


def test_serving_refuses_to_start_if_prometheus_client_counts_in_memory_already():
    """This process imported prometheus-client without the directory: its workers would each count apart."""
    with pytest.raises(RuntimeError, match="imported before PROMETHEUS_MULTIPROC_DIR was set"):
        metrics_dir.check_mode()
