"""Reading retailers' bodies the one safe way, shared by every adapter that reads JSON or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from partners.errors import UnreadablePayload


def read_json(body: bytes) -> Any:
    """JSON with every number exact: a decimal becomes a Decimal, never a float; NaN and Infinity are refused."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past any real payload
        raise UnreadablePayload(f"the body is not JSON: {exc}") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def csv_records(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    """The reader's records, with a malformed one handed on as its error instead of ending the file."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc
