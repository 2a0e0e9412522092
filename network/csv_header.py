"""The header of a CSV file a partner uploads (aliases, opening balances): its columns found by name, in any order and case.

One reading for every upload, so each refuses a file the same way and in
the same words: 400 `bad_header`, naming what the header lacks or repeats.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from network.errors import BadRequest


def read_header(records: Iterable, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, int]:
    """Where each named column is, from the first non-blank record; blank records before it are passed over."""
    wanted = ", ".join(required)
    also = f" (and optionally {', '.join(optional)})" if optional else ""
    for record in records:
        if isinstance(record, csv.Error):
            raise BadRequest(f"The header is not CSV: {record}", {"header": [str(record)]}, code="bad_header")
        if not any(cell.strip() for cell in record):
            continue
        names = [cell.strip().lower() for cell in record]
        missing = [name for name in required if name not in names]
        if missing:
            raise BadRequest(f"The first line must be a header with the columns {wanted}{also}; it lacks "
                             f"{', '.join(missing)}", {"header": [f"lacks {', '.join(missing)}"]}, code="bad_header")
        known = (*required, *optional)
        twice = sorted({name for name in names if name in known and names.count(name) > 1})
        if twice:
            raise BadRequest(f"The header names {', '.join(twice)} more than once",
                             {"header": [f"names {', '.join(twice)} more than once"]}, code="bad_header")
        return {name: names.index(name) for name in known if name in names}
    raise BadRequest(f"The file is empty: it has no header ({wanted})", {"header": ["is missing"]}, code="bad_header")
