"""Reading retailers' bodies the one safe way, shared by every adapter that reads JSON or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from partners.errors import InvalidTransaction, UnreadablePayload
from partners.text import MAX_DEPTH, TooDeep, control_column, screen


def read_json(body: bytes) -> Any:
    """JSON with every number exact: a decimal becomes a Decimal, never a float; NaN and Infinity are refused.

    A string or key with a control character is a 422 naming its field; nesting past MAX_DEPTH is TooDeep.
    """
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError:
        raise TooDeep(MAX_DEPTH) from None
    except ValueError as exc:  # not UTF-8 or not JSON
        raise UnreadablePayload(f"the body is not JSON: {exc}") from None
    fields = screen(data)
    if fields:
        raise InvalidTransaction(fields, "Some fields contain a control character")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class ControlCharacter(csv.Error):
    """A record with a control character in a cell: refused as its row, as a malformed record is."""

    def __init__(self, column: int):
        super().__init__(f"field {column + 1} contains a control character")
        self.column = column


def csv_records(reader: Iterator[list[str]]) -> Iterator[list[str] | csv.Error]:
    """The reader's records, with a malformed one, or one holding a control character, handed on as its error."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc
            continue
        column = control_column(record)
        yield record if column is None else ControlCharacter(column)
