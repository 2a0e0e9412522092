"""The partner's portal as its tests drive it: figures read off its pages, a csv partner and its end-of-day file."""

from __future__ import annotations

import html
import re

HEADER = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n"


def figure(page: str, name: str) -> str:
    """The text of the element marked `data-figure="name"` (the first one)."""
    found = re.search(rf'data-figure="{re.escape(name)}"[^>]*>([^<]*)<', page)
    assert found, f"no figure {name!r} on the page"
    return html.unescape(found.group(1)).strip()


def figures(page: str, name: str) -> list[str]:
    return [html.unescape(text).strip() for text in re.findall(rf'data-figure="{re.escape(name)}"[^>]*>([^<]*)<', page)]


def marked(page: str, attribute: str) -> list[str]:
    """Every value of `data-<attribute>` on the page, in order (rows, rewards, deliveries)."""
    return [html.unescape(value) for value in re.findall(rf'data-{attribute}="([^"]*)"', page)]


def as_csv(hub, slug: str) -> None:
    """The partner's adapter set to csv through the API, as its operator would."""
    moved = hub.call("PUT", f"/v1/partners/{slug}/adapter", json={"adapter": "csv", "adapter_config": {}})
    assert moved.status_code == 200, moved.json


def end_of_day(ann: str, bob: str) -> bytes:
    """Five rows: two sales and a refund that book, a refund of a sale never seen (row 4), a card of no one (row 5)."""
    return (HEADER
            + "EOD-1,sale," + ann + ",2026-03-14T09:14:03,EUR,12.50,\n"
            + "EOD-2,sale," + bob + ",2026-03-14T11:02:47+01:00,EUR,3.05,\n"
            + "EOD-3,refund," + ann + ",2026-03-14T15:40:00,EUR,4.20,EOD-1\n"
            + "EOD-4,refund,,2026-03-14T22:55:10Z,EUR,0.99,EOD-0\n"
            + "EOD-5,sale,7987654321098762,2026-03-14 18:30:00,EUR,10.00,\n").encode()
