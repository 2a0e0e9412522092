"""Scene two, members earn and spend: enrolled at a till, four weeks of sales, refunds and redemptions.

Each till is told the member's balance in every answer; the demo keeps what
it was told (plus what it knows the hub credited without saying, a referrer's
bonus) and reads every balance back at the end to check the hub agrees.
"""

from __future__ import annotations

import json
from collections import Counter
from random import Random

from network.demo.catalogue import CURRENCY, PARTNERS, REFUSED_RATE, REWARDS, money
from network.demo.client import Answer, DemoError, expect
from network.demo.plan import Member, RefundEvent, SaleEvent, Weeks, first_purchase
from network.demo.stage import Showcase, Stage


def enrol(stage: Stage, members: list[Member]) -> None:
    """Each member enrolled at their own partner's till; the first brings a friend (a referral)."""
    referral = _referral_pair(members)
    for member in members:
        body = {"email": member.email, "name": member.name}
        referrer = referral[0] if referral and member is referral[1] else None
        if referrer:
            body["referred_by"] = referrer.card
        created = expect(stage.client.call("POST", "/v1/members", _key(stage, member.home), body), 201,
                         f"enrolling {member.name}")
        member.member_id, member.card = created["member_id"], created["card_number"]
        _enrolled(member, created, referrer, stage.showcase)


def four_weeks(stage: Stage, rng: Random, members: list[Member], events: list, weeks: Weeks) -> None:
    """Every sale, refund and redemption of the plan, in time order; then the first sale resent, byte for byte."""
    receipts = Counter()

    def receipt(partner: int) -> str:
        receipts[partner] += 1
        return f"{PARTNERS[partner].prefix}-{receipts[partner]:05d}"

    first_sale = None
    for event in events:
        if isinstance(event, SaleEvent):
            sent = _sale(stage, members, event, receipt(event.partner), weeks)
            first_sale = first_sale or (event, *sent)
        elif isinstance(event, RefundEvent):
            _refund(stage, members, event, receipt(event.sale.partner), weeks)
        else:
            _redeem(stage, rng, members, receipt)
    stage.tally.replay = _replay(stage, members, *first_sale)


def _key(stage: Stage, partner: int) -> str:
    return stage.keys[PARTNERS[partner].slug]


def _sale(stage: Stage, members: list[Member], event: SaleEvent, order_id: str, weeks: Weeks) -> tuple[dict, Answer]:
    member = members[event.member]
    event.order_id = order_id
    body = {"type": "sale", "order_id": order_id, "card_number": member.card, "occurred_at": weeks.at(event.minute),
            "currency": CURRENCY, "total": money(event.total), "items": event.lines}
    answer = stage.client.call("POST", "/v1/transactions", _key(stage, event.partner), body)
    booked = expect(answer, 201, f"sale {order_id}")
    member.available = booked["balance"]["available"]
    if booked["points"]:
        first_purchase(members, member)
    stage.tally.sales += 1
    showcase = stage.showcase
    if len(booked["awards"]) > showcase.most_awards:
        showcase.most_awards, showcase.awarded = len(booked["awards"]), (member.index, order_id)
    return body, answer


def _refund(stage: Stage, members: list[Member], event: RefundEvent, order_id: str, weeks: Weeks) -> None:
    sale = event.sale
    body = {"type": "refund", "order_id": order_id, "original_order_id": sale.order_id,
            "occurred_at": weeks.at(event.minute), "currency": CURRENCY, "total": money(event.total)}
    refunded = expect(stage.client.call("POST", "/v1/transactions", _key(stage, sale.partner), body), 201,
                      f"refund {order_id}")
    members[sale.member].available = refunded["balance"]["available"]
    stage.tally.uncollected += refunded.get("uncollected_points", 0)
    stage.tally.refunds += 1
    stage.tally.full_refunds += event.full


def _redeem(stage: Stage, rng: Random, members: list[Member], receipt) -> None:
    """A member with points spends them at a partner other than their own; now and then one asks for too many."""
    tally = stage.tally
    eligible = [m for m in members if m.available >= REWARDS[0]]
    if not eligible:
        tally.skipped += 1
        return
    member = rng.choice(eligible)
    partner = rng.choice([i for i in range(len(PARTNERS)) if i != member.home])
    if rng.random() < REFUSED_RATE:
        points = next((r for r in REWARDS if r > member.available), member.available + 50)
    else:
        points = rng.choice([r for r in REWARDS if r <= member.available])
    order_id = receipt(partner)
    body = {"card_number": member.card, "points": points, "order_id": order_id}
    answer = stage.client.call("POST", "/v1/redemptions", _key(stage, partner), body)
    if answer.status == 201:
        tally.redemptions += 1
        member.available = answer.body["balance"]["available"]
    elif answer.status == 422 and answer.body.get("error", {}).get("code") == "insufficient_points":
        tally.refused += 1
    else:
        expect(answer, 201, f"redemption {order_id}")


def _replay(stage: Stage, members: list[Member], sale: SaleEvent, body: dict, original: Answer) -> str:
    """Resend the first sale byte for byte, same Idempotency-Key: the hub answers as before and books nothing."""
    client, member, key = stage.client, members[sale.member], _key(stage, sale.partner)
    before = expect(client.call("GET", f"/v1/cards/{member.card}/balance", key), 200, "balance")["available"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": original.key}
    answer = client.send("POST", "/v1/transactions", headers, json.dumps(body).encode())
    after = expect(client.call("GET", f"/v1/cards/{member.card}/balance", key), 200, "balance")["available"]
    replayed = answer.headers.get("idempotent-replayed") == "true"
    if answer.status != original.status or answer.text != original.text or not replayed or after != before:
        raise DemoError(
            f"replaying sale {sale.order_id} was not idempotent: HTTP {answer.status}, replayed={replayed}, "
            f"balance {before} -> {after}"
        )
    return (f"sale {sale.order_id} resent with its Idempotency-Key: HTTP {answer.status}, "
            f"Idempotent-Replayed: true, same body; balance still {after}")


def _referral_pair(members: list[Member]) -> tuple[Member, Member] | None:
    """The first member enrolled brings a friend: the next member enrolled at a partner with a referral rule."""
    referring = {i for i, trade in enumerate(PARTNERS) if any(rule["rule"] == "referral" for rule in trade.rules)}
    referred = next((m for m in members[1:] if m.home in referring), None)
    return (members[0], referred) if referred else None


def _enrolled(member: Member, created: dict, referrer: Member | None, showcase: Showcase) -> None:
    """Book what the enrolment answer says: a welcome bonus paid now, a referral promised for the first sale."""
    member.available = created.get("balance", {}).get("available", 0)
    if "welcome_bonus" in created:
        showcase.welcome.setdefault(PARTNERS[member.home].name, []).append(created["welcome_bonus"])
    promised = created.get("referral")
    if promised and referrer:
        member.referral = (referrer.index, promised["referrer_points"], promised["referred_points"])
        showcase.referral = (f"{member.name} enrolled at {PARTNERS[member.home].name} with referred_by {referrer.name}'s card: "
                             f"+{promised['referrer_points']} to {referrer.name} and +{promised['referred_points']} to "
                             f"{member.name} after {member.name}'s first sale")


def read_back(stage: Stage, members: list[Member]) -> None:
    """Every balance read back at the member's own till: the hub's figure must be the one the tills were told."""
    for member in members:
        answer = stage.client.call("GET", f"/v1/cards/{member.card}/balance", _key(stage, member.home))
        available = expect(answer, 200, f"balance of {member.card}")["available"]
        if available != member.available:
            stage.tally.mismatched_balances.append(f"{member.card}: hub says {available}, tills were told {member.available}")
        member.available = available
    if stage.showcase.awarded:
        index, order_id = stage.showcase.awarded
        entries = history(stage, members[index].member_id)
        stage.showcase.awarded_entry = next((e for e in entries if e["order_id"] == order_id and e["kind"] == "earn"), None)
    top = max(members, key=lambda m: (m.available, -m.index))
    stage.showcase.history = (top.name, history(stage, top.member_id))


def history(stage: Stage, member_id: str) -> list[dict]:
    """A member's whole history as the operator reads it (GET /v1/members/<id>/history), every page, newest first."""
    entries, path = [], f"/v1/members/{member_id}/history?limit=200"
    while path is not None:
        page = expect(stage.client.call("GET", path, stage.admin), 200, f"history of {member_id}")
        entries += page["items"]
        path = page["next"]
    return entries
