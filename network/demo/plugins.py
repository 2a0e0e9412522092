"""Partners' plugins at work once members shop: an action rule, a Shopify shop's webhooks, a bookshop's CSV export.

As a new partner meets them (docs/plugins.md): a review rewarded once a day,
signed webhooks arriving at the shop's inbound URL (one resent, one forged,
one refund), and an end-of-day export with a mistyped row, sent twice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import defaultdict
from datetime import datetime
from random import Random

from network.demo.catalogue import (
    BOOK_PRICES,
    BOOKSHOP,
    CURRENCY,
    DAYS,
    EXPORT_DAY,
    EXPORT_SALES,
    FREE_SHIPPING,
    PARTNERS,
    SHIPPING,
    SHOP,
    SHOP_ORDER_IDS,
    SHOP_ORDERS,
    SHOP_PRODUCTS,
    TIMEZONE,
    cents_of,
    money,
)
from network.demo.client import Answer, DemoError, expect
from network.demo.partners import Inbound
from network.demo.plan import Member, first_purchase
from network.demo.stage import Stage, local


def at_work(stage: Stage, rng: Random, members: list[Member], inbound: Inbound, at) -> None:
    """The three plugin scenes, after the four weeks' sales; `at(minute)` dates a moment of the four weeks."""
    actions(stage, rng, members)
    shopify(stage, rng, members, inbound, at)
    csv_export(stage, rng, members, at)


def actions(stage: Stage, rng: Random, members: list[Member]) -> None:
    """Reviews rewarded by an `action` rule (POST /v1/actions); the rule allows one a day, so a second is refused."""
    partner = next(i for i, trade in enumerate(PARTNERS) if any(rule["rule"] == "action" for rule in trade.rules))
    terms = next(rule for rule in PARTNERS[partner].rules if rule["rule"] == "action")
    reviewers = rng.sample(members, min(2, len(members)))
    references = iter(range(1, 100))

    def review(member: Member) -> Answer:
        body = {"card_number": member.card, "action": terms["action"],
                "reference": f"{PARTNERS[partner].prefix}-RV-{next(references):04d}"}
        return stage.client.call("POST", "/v1/actions", stage.keys[PARTNERS[partner].slug], body)

    for member in reviewers:
        member.available = expect(review(member), 201, f"{terms['action']} by {member.name}")["balance"]["available"]
    again = review(reviewers[0])
    if again.status != 422 or again.body.get("error", {}).get("code") != "action_limit_reached":
        raise DemoError(f"a second {terms['action']} the same day: expected 422 action_limit_reached, got {again.status}: {again.text[:300]}")
    stage.showcase.actions = (f"POST /v1/actions at {PARTNERS[partner].name}: {len(reviewers)} {terms['action']}s, "
                        f"+{terms['points']} each (201); a second one by {reviewers[0].name} the same day: "
                        f"422 action_limit_reached, nothing booked")


def _shopify_headers(body: bytes, topic: str, secret: str) -> dict:
    """What Shopify sends with a webhook: its topic and the body's HMAC-SHA256 under the shop's secret, in base64."""
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": f"{SHOP.slug}.myshopify.com"}


def _shop_order(rng: Random, number: int, card: str, created_at: str) -> dict:
    """An orders/create body in Shopify's shape (tests/fixtures/shopify/orders_create.json, trimmed).

    The member's card is the cart attribute `loyalty_card`, which Shopify
    copies into `note_attributes`. Prices include VAT, as in a European shop;
    shipping is charged on top and earns nothing.
    """
    lines, subtotal = [], 0
    for n, product in enumerate(rng.sample(SHOP_PRODUCTS, rng.randint(1, 3))):
        quantity = rng.choices((1, 2), weights=(3, 1))[0]
        subtotal += quantity * product.cents
        lines.append({"id": (SHOP_ORDER_IDS + number) * 10 + n, "sku": product.sku, "title": product.title,
                      "product_type": product.product_type, "quantity": quantity, "price": money(product.cents),
                      "total_discount": "0.00", "taxable": True, "gift_card": False})
    shipping = 0 if subtotal >= FREE_SHIPPING else SHIPPING
    shop_money = lambda cents: {"shop_money": {"amount": money(cents), "currency_code": CURRENCY}}  # noqa: E731
    return {
        "id": SHOP_ORDER_IDS + number, "name": f"#{1000 + number}", "order_number": 1000 + number,
        "created_at": created_at, "processed_at": created_at, "currency": CURRENCY, "presentment_currency": CURRENCY,
        "financial_status": "paid", "cancelled_at": None, "taxes_included": True, "test": False,
        "total_line_items_price": money(subtotal), "total_discounts": "0.00", "subtotal_price": money(subtotal),
        "subtotal_price_set": shop_money(subtotal), "total_shipping_price_set": shop_money(shipping),
        "total_price": money(subtotal + shipping), "total_price_set": shop_money(subtotal + shipping),
        "note_attributes": [{"name": "gift_wrap", "value": "no"}, {"name": "loyalty_card", "value": card}],
        "line_items": lines,
    }


def _shop_refund(order: dict, line: dict, created_at: str) -> dict:
    """A refunds/create body for one unit of one line (Shopify writes `subtotal` as a JSON number; exact text here)."""
    amount = {"amount": line["price"], "currency_code": CURRENCY}
    return {
        "id": order["id"] * 10 + 1, "order_id": order["id"], "created_at": created_at, "processed_at": created_at,
        "note": "Arrived damaged", "restock": True, "order_adjustments": [],
        "refund_line_items": [{"id": line["id"] * 10 + 1, "line_item_id": line["id"], "quantity": 1, "restock_type": "return",
                               "subtotal": line["price"], "subtotal_set": {"shop_money": amount, "presentment_money": amount},
                               "line_item": line}],
        "transactions": [{"kind": "refund", "status": "success", "gateway": "shopify_payments", "amount": line["price"],
                          "currency": CURRENCY}],
    }


def shopify(stage: Stage, rng: Random, members: list[Member], inbound: Inbound, at) -> None:
    """Northside Roasters' webhooks as Shopify delivers them: signed, to the inbound URL, with no API key.

    One is delivered twice (Shopify retries anything but a 2xx), one was
    altered after signing, and one order is partly refunded.
    """
    client, path, secret = stage.client, inbound.shop_path, inbound.shop_secret
    placed, points = [], 0
    for number in range(1, SHOP_ORDERS + 1):
        member = rng.choice(members)
        minute = (DAYS - 3) * 1440 + rng.randrange(3 * 1440 - 600)
        order = _shop_order(rng, number, member.card, at(minute))
        body = json.dumps(order).encode()
        booked = expect(client.send("POST", path, _shopify_headers(body, "orders/create", secret), body), 201,
                        f"Shopify order {order['name']}")
        member.available = booked["balance"]["available"]
        first_purchase(members, member)
        points += booked["points"]
        placed.append((order, body, member, minute))
    stage.showcase.shopify.append(f"{SHOP_ORDERS} orders/create webhooks, signed (X-Shopify-Hmac-Sha256), to {path}: "
                                  f"201, {points:+,} points on their subtotals")

    order, body, member, _ = placed[0]
    again = expect(client.send("POST", path, _shopify_headers(body, "orders/create", secret), body), 200,
                   f"Shopify order {order['name']} delivered again")
    if again != {"duplicate": True, "order_id": str(order["id"])}:
        raise DemoError(f"a resent Shopify order was answered {again}")
    stage.showcase.shopify.append(f"order {order['name']} delivered again, as Shopify retries: 200 {json.dumps(again)}, nothing booked")

    forged = _shop_order(rng, SHOP_ORDERS + 1, member.card, order["created_at"])
    signature = _shopify_headers(json.dumps(forged).encode(), "orders/create", secret)
    was, forged["subtotal_price"] = forged["subtotal_price"], money(cents_of(forged["subtotal_price"]) * 10)
    refused = client.send("POST", path, signature, json.dumps(forged).encode())
    if refused.status != 401 or refused.body.get("error", {}).get("code") != "bad_signature":
        raise DemoError(f"an altered Shopify webhook: expected 401 bad_signature, got {refused.status}: {refused.text[:300]}")
    stage.showcase.shopify.append(f"order {forged['name']} altered after signing (subtotal {was} -> {forged['subtotal_price']}): "
                            f"401 bad_signature, nothing booked")

    order, _, member, minute = placed[1]
    line = order["line_items"][0]
    refund = json.dumps(_shop_refund(order, line, at(minute + 540))).encode()
    refunded = expect(client.send("POST", path, _shopify_headers(refund, "refunds/create", secret), refund), 201,
                      f"Shopify refund of order {order['name']}")
    member.available = refunded["balance"]["available"]
    stage.showcase.shopify.append(f"refunds/create for one {line['title']} ({line['price']} {CURRENCY}) of order {order['name']}: "
                            f"201, {refunded['points']:+,} points")


def _bookshop_day(rng: Random, members: list[Member], at) -> tuple[list[list[str]], list[tuple[Member, object]], int]:
    """Page & Plume's till export of the period's last Saturday, in the csv adapter's default columns.

    Sales in time order, one mistyped by hand (a letter O for a zero in its
    total), and one book of a two-book sale brought back before closing.
    Returns the rows, each good row's member and canonical transaction, and
    the mistyped row's number as the hub counts rows (1 is the first after the header).
    """
    from partners.money import Money
    from partners.transactions import Refund, Sale

    day = EXPORT_DAY * 1440
    date = at(day)[:10].replace("-", "")
    rows, booked, baskets = [], [], []
    for n, minute in enumerate(sorted(rng.randrange(day + 570, day + 1140) for _ in range(EXPORT_SALES)), 1):
        member = rng.choice(members)
        books = [rng.choice(BOOK_PRICES) for _ in range(rng.choices((1, 2, 3), weights=(6, 3, 1))[0])]
        order_id, when = f"PP-{date}-{n:04d}", at(minute)
        rows.append([order_id, "sale", member.card, when, CURRENCY, money(sum(books)), ""])
        booked.append((member, Sale(order_id, member.card, datetime.fromisoformat(when), Money(sum(books), CURRENCY))))
        baskets.append(books)
    bad = len(rows) // 2
    rows.insert(bad, [f"PP-{date}-M001", "sale", rows[bad][2], rows[bad][3], CURRENCY, "1O.90", ""])
    returned = next((i for i, books in enumerate(baskets) if len(books) > 1), 0)
    (member, sale), back = booked[returned], baskets[returned][-1]
    when = at(day + 1150)
    rows.append([f"PP-{date}-R001", "refund", member.card, when, CURRENCY, money(back), sale.order_id])
    booked.append((member, Refund(f"PP-{date}-R001", sale.order_id, datetime.fromisoformat(when), Money(back, CURRENCY),
                                  member.card)))
    return rows, booked, bad + 1


def _expected_points(ruleset, booked: list[tuple[Member, object]]) -> dict[int, int]:
    """What each member should gain from the export, priced by the hub's own rule engine (partners.earning).

    The batch answer only counts rows, so the demo prices them itself with
    the same plugins the hub runs: each sale's awards, and for the refund each
    award's share, floored rule by rule, exactly as the hub claws back.
    """
    from partners.earning import awards_for_sale, clawback_awards
    from partners.transactions import Sale

    earned, change = {}, defaultdict(int)
    for member, transaction in booked:
        if isinstance(transaction, Sale):
            earned[transaction.order_id] = (transaction, awards_for_sale(ruleset, transaction, TIMEZONE))
            change[member.index] += sum(award.points for award in earned[transaction.order_id][1])
        else:
            sale, awards = earned[transaction.original_order_id]
            back = clawback_awards(awards, sale.total.minor, 0, transaction.total.minor)
            change[member.index] -= sum(award.points for award in back)
    return change


def csv_export(stage: Stage, rng: Random, members: list[Member], at) -> None:
    """The bookshop sends its end-of-day export to POST /v1/transactions/batch, then (by mistake) sends it again."""
    from partners.earning import compile_rules
    from partners.transactions import Sale

    client, key = stage.client, stage.keys[BOOKSHOP.slug]
    ruleset = compile_rules(stage.rules, BOOKSHOP.rules)
    rows, booked, bad_row = _bookshop_day(rng, members, at)
    header = ["order_id", "type", "card_number", "occurred_at", "currency", "total", "original_order_id"]
    body = "\r\n".join(",".join(row) for row in [header, *rows]).encode() + b"\r\n"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv", "Accept": "application/json"}
    good, batches = len(booked), []
    day = local(rows[0][3])[:10]
    for attempt, (accepted, duplicates) in enumerate(((good, 0), (0, good))):
        answer = expect(client.send("POST", "/v1/transactions/batch", headers, body), 200, "the bookshop's export")
        batches.append(answer)
        rejected = [(r["row"], r["code"]) for r in answer["rejected"]]
        if (answer["accepted"], answer["duplicates"], rejected) != (accepted, duplicates, [(bad_row, "invalid_row")]):
            raise DemoError(f"the bookshop's export (attempt {attempt + 1}): expected {accepted} accepted, {duplicates} "
                            f"duplicates and row {bad_row} rejected; got {json.dumps(answer)[:500]}")
    change = _expected_points(ruleset, booked)
    for index, points in change.items():
        members[index].available += points
    for member, transaction in booked:
        if isinstance(transaction, Sale):
            first_purchase(members, member)
    first, again = batches
    errors = "; ".join(f"{field} {', '.join(messages)}" for field, messages in first["rejected"][0]["errors"].items())
    counts = lambda answer: json.dumps({k: answer[k] for k in ("accepted", "duplicates", "rejected_total")})  # noqa: E731
    stage.showcase.csv = [
        f"end-of-day export of {day}: {len(rows)} rows ({EXPORT_SALES} sales, 1 refund, 1 mistyped) as text/csv "
        f"to POST /v1/transactions/batch",
        f"answer {counts(first)}: row {bad_row} {first['rejected'][0]['code']} ({errors})",
        f"the same file sent again: {counts(again)}, nothing booked twice",
        f"{sum(change.values()):+,} points, as the demo priced the rows with the hub's own rule engine (balances checked below)",
    ]
