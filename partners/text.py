"""The one test for text from outside: no control characters, no document nested past any real payload.

A NUL reaches PostgreSQL as an error, not a row, and other control characters
are never data in an order id, a name or a sku; tab, newline and carriage
return are (a note, a CSV cell). Every reader of outside input asks here.
"""

from __future__ import annotations

import re
from typing import Any

from partners.errors import UnreadablePayload

#: C0 controls but tab, newline and carriage return; DEL; C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
REASON = "contains a control character"
#: Deeper than any payload a till or a platform sends; a parser's recursion fails far further down.
MAX_DEPTH = 64


class TooDeep(UnreadablePayload):
    """A document nested deeper than MAX_DEPTH: refused before anything recurses over it (400 `body_too_deep`)."""

    def __init__(self, limit: int = MAX_DEPTH):
        super().__init__(f"the body is nested deeper than {limit} levels")
        self.limit = limit


def has_control(text: str) -> bool:
    return CONTROL.search(text) is not None


def printable_name(text: str) -> str:
    """A key named in an error with its control characters escaped, so the error itself carries none."""
    return CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), text)


def screen(document: Any, limit: int = MAX_DEPTH) -> dict[str, list[str]]:
    """Each field path (`items.0.sku`) whose string or key holds a control character; TooDeep past `limit`.

    Walks with its own stack, never Python's, so no depth makes it fail.
    """
    found: dict[str, list[str]] = {}
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if CONTROL.search(value):
                found[path or "_schema"] = [REASON]
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= limit:
            raise TooDeep(limit)
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and CONTROL.search(key):
                    found[printable_name(where)] = [f"is a key that {REASON}"]
                    continue
                stack.append((item, where, depth + 1))
        else:
            stack.extend((item, f"{path}.{index}" if path else str(index), depth + 1) for index, item in enumerate(value))
    return found


def control_column(record: list[str]) -> int | None:
    """The index of a CSV record's first cell holding a control character, or None (one regex for the whole row)."""
    if not CONTROL.search("".join(record)):
        return None
    return next(index for index, cell in enumerate(record) if CONTROL.search(cell))
