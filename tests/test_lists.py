"""The lists (partners, statements) and their one paging: a cursor and a `next` link, each item seen once.

Member search by card and e-mail is tests/test_member_search.py; who may
call each list is in tests/test_isolation_matrix.py too.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from tests.support.ledger import snapshot

LISTED = {"slug", "name", "kind", "adapter", "timezone", "currency", "created_at"}


def walk(hub, path: str, key: str | None = None) -> list[dict]:
    """Every page of a list, by following `next` until it is null; the pages as answered."""
    pages = []
    while path is not None:
        answer = hub.call("GET", path, key)
        assert answer.status_code == 200, answer.json
        assert set(answer.json) == {"items", "next"}
        pages.append(answer.json)
        path = answer.json["next"]
    return pages


def close_period(hub, clock) -> dict:
    clock.advance(hours=1)
    closed = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=30)).isoformat()})
    assert closed.status_code == 201, closed.json
    return closed.json["statement"]


def test_paging_walks_every_partner_exactly_once_in_the_order_they_joined(hub):
    slugs = [f"shop-{n:02d}" for n in range(7)]
    for slug in slugs:
        hub.create_partner(slug)
    first = hub.call("GET", "/v1/partners?limit=3").json
    assert [p["slug"] for p in first["items"]] == slugs[:3]
    assert first["next"].startswith("/v1/partners?cursor=") and first["next"].endswith("&limit=3")
    hub.create_partner("shop-late")  # joins while the list is walked: found at its end, nothing seen twice
    pages = [first, *walk(hub, first["next"])]
    assert [len(page["items"]) for page in pages] == [3, 3, 2]
    assert [p["slug"] for page in pages for p in page["items"]] == [*slugs, "shop-late"]
    assert pages[-1]["next"] is None
    whole = hub.call("GET", "/v1/partners").json  # the default page holds 50: all of them, and no next
    assert [p["slug"] for p in whole["items"]] == [*slugs, "shop-late"] and whole["next"] is None
    exact = walk(hub, "/v1/partners?limit=4")  # a last page that is full: the one after it is empty, never an error
    assert [len(page["items"]) for page in exact] == [4, 4]


def test_the_partner_list_shows_no_secret(hub):
    key = hub.create_partner("maple", adapter="shopify", adapter_config={"webhook_secret": "shpss_maple_secret_0123"})
    other = hub.create_partner("brew-bar")
    answer = hub.call("GET", "/v1/partners")
    assert answer.status_code == 200
    maple = answer.json["items"][0]
    assert set(maple) == LISTED
    assert {k: maple[k] for k in ("slug", "name", "kind", "adapter", "timezone", "currency")} == {
        "slug": "maple", "name": "Maple", "kind": "retailer", "adapter": "shopify", "timezone": "Europe/Paris",
        "currency": "EUR"}
    text = answer.get_data(as_text=True)
    assert "shpss_maple_secret_0123" not in text and key not in text and other not in text
    shown = hub.call("GET", "/v1/partners/maple").json  # the list shows nothing the partner's own view does not
    assert {k: shown[k] for k in LISTED} == maple


def test_a_partner_may_not_list_the_partners(hub):
    key = hub.create_partner("brew-bar")
    refused = hub.call("GET", "/v1/partners", key)
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "wrong_role")
    assert hub.client.get("/v1/partners").status_code == 401


def cursor(raw) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).rstrip(b"=").decode()


BAD_QUERIES = [
    ("limit=0", "limit"),
    ("limit=201", "limit"),
    ("limit=-1", "limit"),
    ("limit=ten", "limit"),
    ("limit=", "limit"),
    ("cursor=", "cursor"),
    ("cursor=not-a-cursor", "cursor"),
    ("cursor=%25%25%25", "cursor"),
    ("cursor=" + "A" * 201, "cursor"),
    ("cursor=" + cursor(["partners", 1]) + "%3D%3D", "cursor"),   # padded: not as the hub wrote it
    ("cursor=" + cursor(["statements", 1]), "cursor"),            # another list's
    ("cursor=" + cursor(["partners", "1"]), "cursor"),            # the wrong type of key
    ("cursor=" + cursor(["partners", 0]), "cursor"),
    ("cursor=" + cursor(["partners", 2**63]), "cursor"),
    ("cursor=" + cursor(["partners", 1.5]), "cursor"),
    ("cursor=" + cursor(["partners", True]), "cursor"),
    ("cursor=" + cursor(["partners", 1, 2]), "cursor"),
    ("cursor=" + cursor({"partners": 1}), "cursor"),
    ("cursor=" + cursor("partners"), "cursor"),
    ("cursor=" + base64.urlsafe_b64encode(b"\xff\xfe[").rstrip(b"=").decode(), "cursor"),
    ("cursor=" + cursor(["partners", 1]).replace("W", "X", 1), "cursor"),  # a character changed
    ("limt=10", "limt"),  # a mistyped parameter is named, not ignored
]


def test_a_bad_limit_or_cursor_is_a_422_naming_it(hub, database):
    hub.create_partner("brew-bar")
    before = snapshot(database)
    answered = {}
    for query, field in BAD_QUERIES:
        refused = hub.call("GET", f"/v1/partners?{query}")
        answered[query] = (refused.status_code, refused.json["error"]["code"], list(refused.json["error"]["details"]))
    assert answered == {query: (422, "validation_error", [field]) for query, field in BAD_QUERIES}
    assert snapshot(database) == before


def test_a_cursor_is_the_lists_own_and_carries_the_filters_in_its_link(hub, clock):
    hub.create_partner("brew-bar")
    for _ in range(3):
        close_period(hub, clock)
    statements = hub.call("GET", "/v1/settlement/statements?limit=1").json
    from_statements = statements["next"].split("cursor=")[1].split("&")[0]
    refused = hub.call("GET", f"/v1/partners?cursor={from_statements}")
    assert (refused.status_code, list(refused.json["error"]["details"])) == (422, ["cursor"])


def test_statements_newest_first_each_linking_to_the_whole_statement_for_the_operator(hub, clock):
    hub.create_partner("brew-bar")
    closed = [close_period(hub, clock) for _ in range(3)]
    pages = walk(hub, "/v1/settlement/statements?limit=2")
    assert [len(page["items"]) for page in pages] == [2, 1]
    items = [item for page in pages for item in page["items"]]
    assert [item["sequence"] for item in items] == [3, 2, 1]
    for item, statement in zip(items, reversed(closed)):
        assert set(item) == {"sequence", "period_start", "period_end", "created_at", "statement_hash", "link"}
        assert item["link"] == f"/v1/settlement/statements/{item['sequence']}"
        whole = hub.call("GET", item["link"])
        assert whole.status_code == 200 and whole.json["statement"] == statement
        section = hub.call("GET", f"{item['link']}/partners/brew-bar").json
        assert item["statement_hash"] == section["statement_hash"]
        assert (item["period_start"], item["period_end"]) == (
            None if statement["period"]["start"] is None else statement["period"]["start"].replace("Z", "+00:00"),
            statement["period"]["end"].replace("Z", "+00:00"))
    assert items[-1]["period_start"] is None and items[0]["period_start"] == items[1]["period_end"]


def test_a_partner_lists_only_the_statements_with_its_section_each_linking_to_it(hub, clock):
    early = hub.create_partner("brew-bar")
    close_period(hub, clock)
    late = hub.create_partner("late-shop")  # joins after the first period ended: it has no section there
    for _ in range(2):
        close_period(hub, clock)
    for slug, key, expected in (("brew-bar", early, [3, 2, 1]), ("late-shop", late, [3, 2])):
        items = [item for page in walk(hub, "/v1/settlement/statements?limit=1", key) for item in page["items"]]
        assert [item["sequence"] for item in items] == expected
        for item in items:
            assert item["link"] == f"/v1/settlement/statements/{item['sequence']}/partners/{slug}"
            section = hub.call("GET", item["link"], key)
            assert section.status_code == 200 and section.json["section"]["partner"] == slug
            assert section.json["statement_hash"] == item["statement_hash"]
        for sequence in set(range(1, 4)) - set(expected):  # what it does not list has no section of its own
            assert hub.call("GET", f"/v1/settlement/statements/{sequence}/partners/{slug}", key).status_code == 404
    assert hub.call("GET", "/v1/settlement/statements", late).json["next"] is None


def test_no_statement_is_an_empty_list(hub):
    key = hub.create_partner("brew-bar")
    assert hub.call("GET", "/v1/settlement/statements").json == {"items": [], "next": None}
    assert hub.call("GET", "/v1/settlement/statements", key).json == {"items": [], "next": None}
    assert hub.client.get("/v1/settlement/statements").status_code == 401
