"""One way to page through every list of the API: a cursor, and a `next` link to follow.

Why keyset paging on a stable unique key (the rows' id) and not an offset:
rows added or removed between two pages neither repeat an item nor skip
one, and a page deep in the list costs what the first does.

Why the cursor is opaque: it is the base64url of `[list, last key]`, made by
the hub and to be passed back as it came. Decoding it checks its form and
that it names this list (422 naming `cursor` otherwise); it is not signed,
because it carries a position and nothing else: every page is read under the
caller's own filter and access, so an edited cursor can only move within
what the caller may list anyway.

A list declares its `Listing`, a query schema made by `query_schema` (with
its filters as more fields, read with `QUERY`) and an answer schema made by
`page_schema`; its view then answers `page(listing, args, fetch, key)`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import request
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate

from network.api.schemas import Strict

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
#: How a list's view reads its query (`@blp.arguments(schema, **QUERY)`): a parameter it does not know is a 422
#: naming it, not ignored (a mistyped `limt` would silently page by 50).
QUERY = {"location": "query", "unknown": RAISE}
MAX_CURSOR = 200
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Listing:
    """One list of the API: its name in its cursors, and the type of the key it is ordered by."""

    name: str
    key: type  # int or str
    #: The largest key the list can hold (ints) or its longest (strs): a cursor beyond it is not the hub's.
    bound: int
    #: The order its rows are fetched in (the list's own query keeps it; the document says it).
    newest_first: bool = False
    #: A cursor as this list makes them, for the document's example.
    example_key: int | str = 1

    def encode(self, key: int | str) -> str:
        raw = json.dumps([self.name, key], separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def decode(self, cursor: str) -> int | str:
        """The key a cursor of this list names; ValidationError for anything the hub did not make for it."""
        try:
            if len(cursor) > MAX_CURSOR or not _BASE64URL.match(cursor):
                raise ValueError
            name, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (ValueError, TypeError, binascii.Error):
            raise ValidationError("is not a cursor this hub gave: pass `next` back as it came") from None
        if name != self.name or not self._fits(key) or self.encode(key) != cursor:
            raise ValidationError("is not a cursor this hub gave for this list: pass `next` back as it came")
        return key

    def _fits(self, key) -> bool:
        if self.key is int:
            return type(key) is int and 0 < key <= self.bound
        return type(key) is str and 0 < len(key) <= self.bound


def query_schema(listing: Listing, description: str) -> type[Schema]:
    """The query of a list: `limit` and `cursor`, the cursor read into `after` (the last key of the page before)."""
    order = "newest first" if listing.newest_first else "oldest first"

    class PageQuery(Strict):
        limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT), metadata={
            "description": f"items per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})", "example": DEFAULT_LIMIT})
        cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=MAX_CURSOR), metadata={
            "description": f"where the page starts: from the `next` link of the page before ({description}, {order}); "
                           "leave it out for the first page",
            "pattern": _BASE64URL.pattern, "example": listing.encode(listing.example_key)})

        @post_load
        def _after(self, data, **kwargs):
            cursor = data.pop("cursor")
            try:
                data["after"] = None if cursor is None else listing.decode(cursor)
            except ValidationError as exc:
                raise ValidationError({"cursor": exc.messages}) from None
            return data

    PageQuery.__name__ = PageQuery.__qualname__ = f"{listing.name.title().replace('-', '')}Query"
    return PageQuery


def page_schema(item: type[Schema], name: str, listing: Listing, path: str) -> type[Schema]:
    """The answer of a list: `{"items": [...], "next": link or null}`; `path` (with its filters) for the example."""
    example = f"{path}{'&' if '?' in path else '?'}cursor={listing.encode(listing.example_key)}&limit={DEFAULT_LIMIT}"
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item)),
        "next": fields.String(allow_none=True, metadata={
            "description": "the next page: GET it as it is (same filters, `cursor` and `limit`); null on the last page",
            "example": example}),
    }, name=name)


def page(listing: Listing, args: dict, fetch: Callable[[object, int], Sequence], key: Callable[[object], int | str],
         render: Callable[[object], dict] = lambda row: row) -> dict:
    """A page of the list: `fetch(after, count)` returns up to `count` rows ordered by `key` after `after` (None:
    from the start); one more row than the page holds says whether there is a next page, and is not shown."""
    limit = args["limit"]
    rows = list(fetch(args["after"], limit + 1))
    more, rows = len(rows) > limit, rows[:limit]
    return {"items": [render(row) for row in rows], "next": next_link(listing, key(rows[-1]), limit) if more else None}


def next_link(listing: Listing, last: int | str, limit: int) -> str:
    """This request again (its path and filters), from after `last`."""
    kept = [(name, value) for name, value in request.args.items(multi=True) if name not in ("cursor", "limit")]
    query = urlencode([*kept, ("cursor", listing.encode(last)), ("limit", limit)])
    return f"{request.script_root}{request.path}?{query}"
