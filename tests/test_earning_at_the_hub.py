"""Earning rules through the API: set, validated, awarded, shown in history and clawed back rule by rule."""

from __future__ import annotations

from tests.support.ledger import snapshot

COFFEE_RULES = [
    {"rule": "base_rate", "rate": "1"},
    {"rule": "category_multiplier", "category": "coffee", "multiplier": "2"},
    {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"},
]


def coffee_sale(hub, key, card, occurred_at, order="C-1"):
    return hub.call("POST", "/v1/transactions", key, json={
        "type": "sale", "order_id": order, "card_number": card, "occurred_at": occurred_at, "currency": "EUR",
        "total": "10.50", "items": [
            {"sku": "LATTE", "category": "coffee", "quantity": 2, "unit_price": "3.25"},
            {"sku": "CROISSANT", "category": "bakery", "quantity": 2, "unit_price": "2.00"},
        ],
    })


def test_rules_are_validated_by_each_plugin_and_a_refused_list_changes_nothing(hub, database):
    key = hub.create_partner("brew-bar")
    before = snapshot(database)
    refused = hub.call("PUT", "/v1/partners/brew-bar/rules", json=[
        {"rule": "base_rate", "rate": 1.5},
        {"rule": "happy_hour", "multiplier": "2"},
        {"rule": "cap"},
    ])
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "invalid_rules"
    details = refused.json["error"]["details"]
    assert set(details) == {"rules.0.rate", "rules.1.rule", "rules.2.max_points"}
    assert "unknown rule 'happy_hour'" in details["rules.1.rule"][0]
    assert hub.call("GET", "/v1/partners/brew-bar").json["rules"] == [{"rule": "base_rate", "rate": "1"}]
    assert snapshot(database) == before
    assert hub.call("PUT", "/v1/partners/brew-bar/rules", key, json=COFFEE_RULES).status_code == 403
    assert hub.call("PUT", "/v1/partners/nobody/rules", json=COFFEE_RULES).status_code == 404
    assert hub.call("PUT", "/v1/partners/brew-bar/rules", data="[", content_type="application/json").status_code == 400


def test_earn_rate_is_shorthand_for_one_base_rate_and_cannot_be_mixed_with_rules(hub):
    hub.create_partner("grocer", earn_rate="2")
    assert hub.call("GET", "/v1/partners/grocer").json["rules"] == [{"rule": "base_rate", "rate": "2"}]
    both = hub.call("POST", "/v1/partners", json={"slug": "both", "name": "Both", "timezone": "UTC", "currency": "EUR",
                                                  "earn_rate": "1", "rules": COFFEE_RULES})
    assert both.status_code == 422
    assert "earn_rate" in both.json["error"]["details"]


def test_a_friday_evening_in_utc_is_a_saturday_in_tokyo(hub):
    """Extras add: coffee x2 and weekend x2 make 3x on a weekend coffee, each floored on its own."""
    tokyo = hub.create_partner("tokyo-beans", timezone="Asia/Tokyo", rules=COFFEE_RULES)
    paris = hub.create_partner("paris-beans", timezone="Europe/Paris", rules=COFFEE_RULES)
    _, card = hub.enrol(tokyo)
    friday_night_utc = "2026-03-13T20:00:00+00:00"  # Saturday 05:00 in Tokyo, Friday 21:00 in Paris

    in_tokyo = coffee_sale(hub, tokyo, card, friday_night_utc)
    assert in_tokyo.status_code == 201, in_tokyo.json
    # base 10.50 -> 10; coffee lines 6.50 of 10.50 -> 6.5 extra -> 6; weekend: 10.5 -> 10
    assert in_tokyo.json["awards"] == [
        {"rule": "base_rate", "points": 10, "detail": "1 point per unit spent"},
        {"rule": "category_multiplier", "points": 6, "detail": "coffee x2"},
        {"rule": "day_of_week", "points": 10, "detail": "weekend x2 (sat, sun)"},
    ]
    assert in_tokyo.json["points"] == 26

    in_paris = coffee_sale(hub, paris, card, friday_night_utc)
    assert [a["rule"] for a in in_paris.json["awards"]] == ["base_rate", "category_multiplier"]
    assert in_paris.json["points"] == 16
    assert hub.balance(card)["available"] == 42


def test_history_shows_each_award_with_its_rule(hub):
    key = hub.create_partner("tokyo-beans", timezone="Asia/Tokyo", rules=COFFEE_RULES)
    member_id, card = hub.enrol(key)
    coffee_sale(hub, key, card, "2026-03-14T10:00:00+09:00")
    (entry,) = hub.history(member_id)["items"]
    assert entry["kind"] == "earn"
    assert entry["points"] == 26
    assert [(a["rule"], a["points"]) for a in entry["awards"]] == [
        ("base_rate", 10), ("category_multiplier", 6), ("day_of_week", 10)
    ]
    assert hub.history(member_id, key)["items"][0]["awards"] == entry["awards"]


def test_a_partial_refund_claws_back_rule_by_rule_and_the_rest_gives_back_exactly_the_sale(hub):
    key = hub.create_partner("tokyo-beans", timezone="Asia/Tokyo", rules=COFFEE_RULES)
    member_id, card = hub.enrol(key)
    coffee_sale(hub, key, card, "2026-03-14T10:00:00+09:00", order="C-9")
    first = hub.refund(key, "C-9", "3.50", order="R-1")  # a third of 10.50
    assert first.status_code == 201, first.json
    # each award floored on its own third: 10/3 -> 3, 6/3 -> 2, 10/3 -> 3
    assert [(a["rule"], a["points"]) for a in first.json["awards"]] == [
        ("base_rate", -3), ("category_multiplier", -2), ("day_of_week", -3)
    ]
    assert first.json["points"] == -8
    rest = hub.refund(key, "C-9", "7.00", order="R-2")
    assert [(a["rule"], a["points"]) for a in rest.json["awards"]] == [
        ("base_rate", -7), ("category_multiplier", -4), ("day_of_week", -7)
    ]
    assert hub.balance(card)["available"] == 0
    kinds = [(e["kind"], e["points"]) for e in hub.history(member_id)["items"]]
    assert kinds == [("refund", -18), ("refund", -8), ("earn", 26)]


def test_minimum_spend_and_cap(hub):
    key = hub.create_partner("fuel", rules=[
        {"rule": "minimum_spend", "amount": "20.00"},
        {"rule": "base_rate", "rate": "2"},
        {"rule": "sku_bonus", "sku": "WASH", "points": 30},
        {"rule": "cap", "max_points": 100},
    ])
    _, card = hub.enrol(key)
    below = hub.sale(key, card, "19.99", items=[{"sku": "WASH", "quantity": 1, "unit_price": "19.99"}])
    assert below.json["points"] == 0 and below.json["awards"] == []
    capped = hub.sale(key, card, "45.00", items=[
        {"sku": "WASH", "quantity": 2, "unit_price": "10.00"}, {"sku": "FUEL", "quantity": 1, "unit_price": "25.00"}])
    # base 90, sku bonus 60 -> 150, capped at 100: the bonus gives way first
    assert [(a["rule"], a["points"]) for a in capped.json["awards"]] == [("base_rate", 90), ("sku_bonus", 10)]
    assert hub.balance(card)["available"] == 100


def test_welcome_bonus_on_enrolment_by_the_partner(hub, database):
    key = hub.create_partner("brew-bar", rules=[{"rule": "base_rate", "rate": "1"}, {"rule": "welcome_bonus", "points": 50}])
    other = hub.create_partner("grocer")
    enrolled = hub.call("POST", "/v1/members", key, json={})
    assert enrolled.status_code == 201
    assert enrolled.json["welcome_bonus"] == 50
    card = enrolled.json["card_number"]
    assert hub.balance(card)["available"] == 50
    (entry,) = hub.history(enrolled.json["member_id"])["items"]
    assert entry["kind"] == "bonus" and entry["partner"] == "brew-bar"
    assert entry["awards"] == [{"rule": "welcome_bonus", "points": 50, "detail": "welcome to Brew Bar"}]
    assert entry["provenance"] == [{"issuer": "brew-bar", "points": 50}]
    _, elsewhere = hub.enrol(other)
    assert hub.balance(elsewhere)["available"] == 0


def test_a_referral_pays_both_members_after_the_first_sale_once(hub):
    key = hub.create_partner("brew-bar", rules=[{"rule": "base_rate", "rate": "1"},
                                                {"rule": "referral", "referrer_points": 100, "referred_points": 40}])
    grocer = hub.create_partner("grocer")
    referrer_id, referrer_card = hub.enrol(key)
    unknown = hub.call("POST", "/v1/members", key, json={"referred_by": "7000000000000013"})
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_card"
    joined = hub.call("POST", "/v1/members", key, json={"referred_by": referrer_card})
    assert joined.status_code == 201
    assert joined.json["referral"]["referrer_points"] == 100
    card = joined.json["card_number"]
    assert hub.balance(card)["available"] == 0 and hub.balance(referrer_card)["available"] == 0

    hub.sale(grocer, card, "5.00")  # the first sale, at another partner: brew-bar's promise is paid
    assert hub.balance(card)["available"] == 45
    assert hub.balance(referrer_card)["available"] == 100
    hub.sale(key, card, "5.00")
    assert hub.balance(card)["available"] == 50
    assert hub.balance(referrer_card)["available"] == 100
    referrer_entry = hub.history(referrer_id)["items"][0]
    assert referrer_entry["awards"] == [{"rule": "referral", "points": 100, "detail": "referred a new member"}]
    assert referrer_entry["provenance"] == [{"issuer": "brew-bar", "points": 100}]


def test_actions_earn_within_a_daily_limit_in_the_partners_time_zone(hub, clock, database):
    key = hub.create_partner("brew-bar", timezone="Asia/Tokyo", rules=[
        {"rule": "action", "action": "review", "points": 20, "per_day": 2}])
    _, card = hub.enrol(key)

    def act(reference, action="review"):
        return hub.call("POST", "/v1/actions", key, json={"card_number": card, "action": action, "reference": reference})

    assert act("rv-1").status_code == 201
    assert act("rv-1").json["error"]["code"] == "duplicate_order"
    assert act("rv-2").json["points"] == 20
    before = snapshot(database)
    third = act("rv-3")
    assert third.status_code == 422
    assert third.json["error"]["code"] == "action_limit_reached"
    assert snapshot(database) == before
    unknown = act("p-1", action="post")
    assert unknown.status_code == 422 and unknown.json["error"]["code"] == "unknown_action"
    # The clock reads 09:30 UTC, 18:30 in Tokyo: six hours later it is tomorrow there.
    clock.advance(hours=6)
    assert act("rv-3").status_code == 201
    assert hub.balance(card)["available"] == 60


def test_a_sale_that_earns_nothing_releases_no_referral_and_the_paying_sale_shows_it(hub):
    key = hub.create_partner("brew-bar", rules=[{"rule": "base_rate", "rate": "1"},
                                                {"rule": "referral", "referrer_points": 100, "referred_points": 40}])
    _, referrer_card = hub.enrol(key)
    card = hub.call("POST", "/v1/members", key, json={"referred_by": referrer_card}).json["card_number"]
    nothing = hub.sale(key, card, "0.50")
    assert nothing.json["points"] == 0 and nothing.json["balance"]["available"] == 0
    assert hub.balance(referrer_card)["available"] == 0
    paying = hub.sale(key, card, "5.00")
    assert paying.json["points"] == 5
    assert paying.json["balance"]["available"] == 45  # the answer's balance includes the referral just paid
    assert hub.balance(referrer_card)["available"] == 100
