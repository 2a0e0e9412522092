"""A campaign's window: a rule in force from `valid_from` to `valid_until`, wall-clock in the partner's own zone.

Brew Bar is in Europe/Paris. On Sunday 29 March 2026 its clocks go from
02:00 to 03:00 (CET, UTC+1, to CEST, UTC+2). A double-points campaign
"until 29 March 03:00" ends at 01:00 UTC: the shop's 03:00, not the 02:00
UTC a fixed offset of an hour would give.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support.ledger import snapshot

BASE = {"rule": "base_rate", "rate": "1"}
DOUBLE = {"rule": "day_of_week", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "multiplier": "2"}


def sale_at(hub, world, clock, when: str, total: str = "10.00"):
    clock.now = datetime.fromisoformat(when).astimezone(timezone.utc)
    answer = hub.sale(world.coffee, world.card, total, occurred_at=when)
    assert answer.status_code == 201, answer.json
    return answer.json["points"]


def test_a_window_across_the_change_to_summer_time(hub, world, clock):
    hub.put_rules("brew-bar", [BASE, {**DOUBLE, "valid_from": "2026-03-28", "valid_until": "2026-03-29T03:00"}])
    assert sale_at(hub, world, clock, "2026-03-27T23:59:00+01:00") == 10  # Friday night: not yet
    assert sale_at(hub, world, clock, "2026-03-28T00:00:00+01:00") == 20  # Saturday's midnight in Paris
    # 01:59 in Paris (00:59 UTC) is inside; a minute later the clocks jump to 03:00 (01:00 UTC): outside.
    assert sale_at(hub, world, clock, "2026-03-29T00:59:00+00:00") == 20
    assert sale_at(hub, world, clock, "2026-03-29T01:00:00+00:00") == 10
    # The same instant sent in the shop's own offset is judged alike.
    assert sale_at(hub, world, clock, "2026-03-29T03:00:00+02:00") == 10


def test_a_date_as_valid_until_includes_that_whole_day(hub, world, clock):
    hub.put_rules("brew-bar", [BASE, {**DOUBLE, "valid_until": "2026-03-14"}])
    assert sale_at(hub, world, clock, "2026-03-14T23:59:00+01:00") == 20
    assert sale_at(hub, world, clock, "2026-03-15T00:00:00+01:00") == 10


def test_a_window_in_another_zone_is_that_zones_wall_clock(hub, clock):
    key = hub.create_partner("maple", timezone="America/New_York")
    _, card = hub.enrol(key, email="nyc@example.com")
    hub.put_rules("maple", [BASE, {**DOUBLE, "valid_from": "2026-03-14T09:00"}])
    # 09:00 in New York (EDT since 8 March, UTC-4) is 13:00 UTC: 12:59 UTC is before it, 13:00 UTC inside.
    for when, points in (("2026-03-14T12:59:00+00:00", 10), ("2026-03-14T13:00:00+00:00", 20)):
        clock.now = datetime.fromisoformat(when)
        assert hub.sale(key, card, "10.00", occurred_at=when).json["points"] == points


def test_a_campaigns_welcome_bonus_counts_inside_its_window_only(hub, world, clock):
    hub.put_rules("brew-bar", [BASE, {"rule": "welcome_bonus", "points": 50, "valid_until": "2026-03-14"}])
    clock.now = datetime(2026, 3, 14, 22, 30, tzinfo=timezone.utc)  # 23:30 in Paris: the last day still
    first = hub.call("POST", "/v1/members", world.coffee, json={"email": "early@example.com"})
    assert first.status_code == 201 and first.json["welcome_bonus"] == 50
    clock.now = datetime(2026, 3, 14, 23, 0, tzinfo=timezone.utc)  # midnight in Paris: over
    late = hub.call("POST", "/v1/members", world.coffee, json={"email": "late@example.com"})
    assert late.status_code == 201 and "welcome_bonus" not in late.json


@pytest.mark.parametrize("window, field, says", [
    ({"valid_from": "2026-13-01"}, "rules.1.valid_from", "not a date"),
    ({"valid_until": "2026-03-01T10:00:00+01:00"}, "rules.1.valid_until", "without an offset"),
    ({"valid_from": "2026-03-02", "valid_until": "2026-03-01"}, "rules.1.valid_until", "after valid_from"),
    ({"valid_from": 20260301}, "rules.1.valid_from", "must be a date"),
])
def test_a_bad_window_is_a_422_naming_it_and_changes_nothing(hub, world, database, window, field, says):
    before = snapshot(database)
    answer = hub.call("PUT", "/v1/partners/brew-bar/rules", json=[BASE, {**DOUBLE, **window}])
    assert answer.status_code == 422 and answer.json["error"]["code"] == "invalid_rules", answer.json
    assert says in " ".join(answer.json["error"]["details"][field])
    assert snapshot(database) == before
