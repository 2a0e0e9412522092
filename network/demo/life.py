"""Scene three, a member's life over time, on the hub's moved clock: nothing sleeps.

Pending points and expiry need time to pass: one member of the network's
first days is followed to today. Under `activity_extends` expiry all of a
member's points expire together, so this runs before the four weeks' members
are active: the expiry job today then finds only that member's points due.
Tiers, a nudge, an adjustment and a hold follow today, after the four weeks,
so that their sales (the partners' figures) earn no tier award. The jobs run
in this process as cron would run `coalition expire` and `coalition events
scan`; their events are read from the outbox (the `events` table), as
`coalition events deliver` reads them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from network.demo.catalogue import (
    BIKE_PRODUCTS,
    BIKE_SHOP,
    CAR_WASH,
    CURRENCY,
    FIRST_SPEND,
    GOODWILL,
    PUMP_CAPTURE,
    PUMP_HOLD,
    RETURN_DAYS,
    TIERS,
    WARNED_DAYS_AHEAD,
    product,
)
from network.demo.client import expect
from network.demo.stage import Stage, day
from network.events.kinds import EventKind


def years_ago(stage: Stage) -> None:
    """Pending points and expiry need time to pass: a member of the network's first days, followed to today.

    Runs before the four weeks' members enrol, so the expiry job today finds
    only this member's points due (every other member's activity is today).
    """
    card, member_id, expires = _pending_points(stage)
    _expiry_warning(stage, member_id, expires)
    stage.clock.back_to_today()
    _expiry_job(stage, card)


def _pending_points(stage: Stage) -> tuple[str, str, datetime]:
    """A bike shop with a return window: its sale's points are pending, then available once the window has passed.

    No job runs when the window ends: the balance read alone counts them as
    available. She then spends some, which books the release (pending to
    available) in the ledger: the expiry job and the warning scan find
    members by their booked available balance, so points only ever read as
    available, never moved, would escape both. Returns the member's card, id
    and when the rest expire.
    """
    key = stage.keys[BIKE_SHOP.slug]
    card, member_id = stage.enrol(key, "Noor Haddad")
    booked = stage.sale(key, "CW-00001", card, [(product, 1) for product in BIKE_PRODUCTS])
    stage.note("pending", f"{BIKE_SHOP.name} ({BIKE_SHOP.trade}) joins with \"pending_days\": {RETURN_DAYS}; Noor Haddad buys "
                          f"a helmet and lights, {booked['total']} {CURRENCY}: {booked['points']:+} points, "
                          f"{_balance_text(booked['balance'])}")
    stage.clock.advance(timedelta(days=RETURN_DAYS))
    balance = stage.balance(card)
    stage.note("", f"{RETURN_DAYS} days later, the return window over, GET /v1/cards/<card>/balance alone shows "
                   f"{_balance_text(balance)}")
    body = {"card_number": card, "points": FIRST_SPEND, "order_id": "BB-L0001"}
    spent = expect(stage.client.call("POST", "/v1/redemptions", stage.keys["brew-bar"], body), 201, "Noor Haddad's redemption")
    expiring = stage.balance(card)["expiring"]
    stage.note("", f"she spends {spent['points']} at Brew Bar (POST /v1/redemptions): {_balance_text(spent['balance'])}")
    after = "the last earn or redemption" if stage.config["COALITION_EXPIRY"] == "activity_extends" else "earning them"
    stage.note("expiry", f"the balance's expiring: {expiring['points']} points on {day(expiring['at'])} "
                         f"({stage.config['COALITION_EXPIRY']}: lifetime {stage.lifetime().days} days after {after})")
    return card, member_id, datetime.fromisoformat(expiring["at"])


def _expiry_warning(stage: Stage, member_id: str, expires: datetime) -> None:
    """A few weeks before the points expire, the warning job (`coalition events scan`) tells the enrolling partner."""
    from network.lifecycle import scans

    warning = timedelta(days=stage.config["COALITION_EXPIRY_WARNING_DAYS"])
    as_of = expires - min(timedelta(days=WARNED_DAYS_AHEAD), warning)
    stage.clock.set(as_of)
    done = scans.Scan()
    for done in scans.scan(stage.db.transact, as_of, scans.Settings.from_config(stage.config), now=stage.clock()):
        pass
    told = ", ".join(f"{e['points']} points expire in {e['days_left']} days" for e in stage.outbox(EventKind.POINTS_EXPIRING, member_id))
    stage.note("", f"coalition events scan: {done.expiring} points_expiring, {done.dormant} dormant_member; "
                   f"outbox points_expiring to {BIKE_SHOP.name}: {told or 'none'}")


def _expiry_job(stage: Stage, card: str) -> None:
    """Today, past the lifetime: the expiry job (as cron runs `coalition expire`) takes the points; run again, nothing."""
    from network.lifecycle import expiry

    policy, runs = expiry.Policy.from_config(stage.config), []
    for _ in range(2):
        now, run = stage.clock(), expiry.Run()
        for run in expiry.expire(stage.db.transact, stage.db.read, now, policy, clock=stage.clock):
            pass
        runs.append(run)
    first, again = runs
    stage.note("", f"today, coalition expire: {first.points} points of {first.members} member{'s' * (first.members != 1)} "
                   f"expired (to breakage); "
                   f"run again: {again.points} points; {_balance_text(stage.balance(card))}")


def _balance_text(balance: dict) -> str:
    return f"available {balance['available']:,}, pending {balance['pending']:,}"


def today(stage: Stage) -> None:
    """Today, after the four weeks: a tier ladder and a member who climbs it, a nudge, an adjustment and a hold."""
    card, member_id = _tiers(stage)
    _nudge(stage, card, member_id)
    _adjustment_and_hold(stage, card, member_id)


def _tiers(stage: Stage) -> tuple[str, str]:
    """The operator sets the ladder; a big order crosses into Silver, and the next sale earns a `tier` award on top.

    The crossing sale earns at the old tier, the next at the new one; the tier
    award is its own award, funded (like the rest of the sale) by the partner
    where the sale was made. Returns the member's card and id.
    """
    ladder = expect(stage.client.call("PUT", "/v1/network/tiers", stage.admin, {"tiers": list(TIERS)}), 200, "the tier ladder")
    stage.note("tiers", "PUT /v1/network/tiers: " + ", ".join(f"{t['name']} from {t['threshold']:,} x{t['multiplier']}"
                                                             for t in ladder["tiers"]))
    grocer = stage.keys["green-grocer"]
    card, member_id = stage.enrol(grocer, "Theo Blanc")
    booked = stage.sale(grocer, "GG-L0001", card, [(product("green-grocer", "WINE-BORDEAUX"), 40)])
    stage.note("", f"Theo Blanc's party order at Green Grocer, {booked['total']} {CURRENCY}: {booked['points']:+} points "
                   f"(earned at his tier then, Blue); "
                   f"{_tier_text(stage.balance(card))}")
    booked = stage.sale(grocer, "GG-L0002", card, [(product("green-grocer", "COFFEE-1KG"), 2),
                                                   (product("green-grocer", "WINE-BORDEAUX"), 4)])
    awards = ", ".join(f"{a['rule']} {a['points']:+d} ({a['detail']})" for a in booked["awards"])
    stage.note("", f"his next sale, {booked['total']} {CURRENCY}: {booked['points']:+} points: {awards}, paid by Green Grocer; "
                   f"{_tier_text(stage.balance(card))}")
    return card, member_id


def _tier_text(balance: dict) -> str:
    return (f"balance: tier {balance['tier']}, qualifying_points {balance['qualifying_points']:,}, "
            f"{balance['points_to_next_tier']:,} points to {balance['next_tier']}")


def _nudge(stage: Stage, card: str, member_id: str) -> None:
    """A partner adds a reward; a sale brings the member within COALITION_NUDGE_GAP_POINTS of it.

    The sale's own transaction writes `reward_within_reach` to the outbox,
    for the partner offering the reward to pass on.
    """

    fuel = stage.keys["fuel-stop"]
    expect(stage.client.call("POST", "/v1/partners/fuel-stop/rewards", fuel, CAR_WASH), 201, "Fuel Stop's reward")
    stage.note("nudge", f"Fuel Stop adds {CAR_WASH['name']} ({CAR_WASH['sku']}, {CAR_WASH['points']} points) to its catalogue "
                        f"(POST /v1/partners/fuel-stop/rewards)")
    booked = stage.sale(fuel, "FS-L0001", card, [(product("fuel-stop", "DIESEL"), "40.00")])
    told = [e["message"] for e in stage.outbox(EventKind.REWARD_WITHIN_REACH, member_id)]
    stage.note("", f"Theo Blanc fills up, {booked['total']} {CURRENCY}: {booked['points']:+} points, "
                   f"{booked['balance']['available']:,} available; outbox reward_within_reach: "
                   + (f'"{told[-1]}"' if told else "none"))


def _adjustment_and_hold(stage: Stage, card: str, member_id: str) -> None:
    """The operator's goodwill points (funded by the network, not a partner), then a pay-at-the-pump hold.

    The pump holds points before the fill-up and captures only what went
    into the tank; the rest goes back to the member at once.
    """
    path = f"/v1/members/{member_id}/adjustments"
    adjusted = expect(stage.client.call("POST", path, stage.admin, GOODWILL), 201, "the goodwill adjustment")
    stage.note("adjustment", f"POST /v1/members/<id>/adjustments {adjusted['points']:+} \"{adjusted['reason']}\", funded by "
                             f"the network: {adjusted['balance']['available']:,} available")
    fuel = stage.keys["fuel-stop"]
    body = {"card_number": card, "points": PUMP_HOLD, "order_id": "FS-L0002", "capture": False}
    held = expect(stage.client.call("POST", "/v1/redemptions", fuel, body), 201, "the pump's hold")
    stage.note("hold", f"Fuel Stop's pump holds {held['points']} points (\"capture\": false): {held['status']}, "
                       f"{held['balance']['available']:,} available, {held['balance']['held']:,} held")
    path = f"/v1/redemptions/{held['redemption_id']}/capture"
    captured = expect(stage.client.call("POST", path, fuel, {"points": PUMP_CAPTURE}), 201, "the pump's capture")
    stage.note("", f"after the fill-up it captures {captured['points']}: {captured['status']}, {captured['released']} released, "
                   f"{captured['balance']['available']:,} available, {captured['balance']['held']:,} held")

