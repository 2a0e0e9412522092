"""The shape of an adapter: a retailer's payload in, canonical transactions out.

An adapter knows one retailer format (a Shopify webhook, a CSV export, a
till's XML log) and nothing of the ledger. The hub hands it the request as a
`Payload` and the partner's own `adapter_config` (already validated by the
adapter's `config_schema`); it answers with canonical transactions or says
precisely what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, runtime_checkable

from marshmallow import Schema

from partners.transactions import Transaction


@dataclass(frozen=True)
class Payload:
    """One request as the hub received it."""

    body: bytes
    #: The media type alone, lower-cased, without parameters: "application/json".
    content_type: str
    #: Request headers with lower-cased names.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The partner's IANA time zone, for formats whose times carry no offset.
    timezone: str = "UTC"


@dataclass(frozen=True)
class Row:
    """One row of a batch: a transaction, or the reasons it is not one.

    `number` is what the retailer sees in its own file (1 is the first data
    row of a CSV export, after the header).
    """

    number: int
    transaction: Transaction | None = None
    errors: Mapping[str, list[str]] | None = None


class Adapter(Protocol):
    #: The value of a partner's `adapter` setting that selects this adapter.
    name: str
    #: Media types this adapter reads; any other is refused with 415.
    content_types: tuple[str, ...]
    #: Validates a partner's `adapter_config`; None when the adapter takes none.
    config_schema: type[Schema] | None
    #: True when the format carries its own signature, so the platform may post
    #: it to `/v1/partners/<slug>/inbound` without the partner's API key.
    signed: bool

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        """Translate one request body.

        Raise `partners.errors.UnreadablePayload` when the body is not the
        format at all, `partners.errors.InvalidTransaction` naming each bad
        field (or row) when it is. Returning an empty list means the body is
        valid but holds nothing to book (a cancelled till transaction).
        """
        ...


@runtime_checkable
class SignedAdapter(Adapter, Protocol):
    def verify(self, payload: Payload, config: Mapping[str, Any]) -> bool:
        """Check the payload's signature against the partner's secret.

        Raise `partners.errors.BadSignature` when it is missing or wrong.
        Return True when it holds, False when this partner's config asks for
        no check (Square's signature key is optional): such a partner's
        payloads are taken only with its API key, never at the inbound URL.
        """
        ...


@runtime_checkable
class BatchAdapter(Adapter, Protocol):
    def read_rows(self, stream: IO[bytes], config: Mapping[str, Any], timezone: str) -> Iterator[Row]:
        """Yield the rows of a file as it streams in, never holding it whole.

        A bad row is yielded with its errors and reading goes on; only a file
        that is not the format at all (no header) raises `UnreadablePayload`.
        """
        ...
