"""Fuzzing an adapter: whatever arrives, only its two errors or valid canonical transactions come out."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from partners.errors import InvalidTransaction, UnreadablePayload
from partners.fields import MAX_ORDER_ID
from partners.transactions import Amendment, Cancellation, Ignored, Payment, Refund, Sale

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def json_values(samples: list[str]):
    """Any JSON value, its strings sometimes one of `samples` (amounts, currencies, cards the adapter reads)."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=False),
        st.text(max_size=20), st.sampled_from(samples),
    )
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )


def mutate_json(document, data, read_keys: set[str], values):
    """Delete or replace (with one of `values`) a few of the fields the adapter reads, at any depth."""
    paths = list(_read_paths(document, read_keys))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        *parents, last = data.draw(st.sampled_from(paths))
        node = _node_at(document, parents)
        if isinstance(node, dict) and data.draw(st.booleans()):
            node.pop(last, None)
        elif isinstance(node, dict) or isinstance(node, list) and isinstance(last, int) and last < len(node):
            node[last] = data.draw(values)
    return document


def _read_paths(node, read_keys, path=()):
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        if isinstance(key, int) or key in read_keys:
            yield (*path, key)
            yield from _read_paths(child, read_keys, (*path, key))


def _node_at(document, path):
    node = document
    for key in path:
        if isinstance(node, dict) and key in node or isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def parse_or_refuse(adapter, payload, config, utc: bool = True) -> None:
    """The adapter books valid transactions, or refuses naming each bad field, or finds the payload unreadable."""
    try:
        booked = adapter.parse(payload, config)
    except UnreadablePayload:
        return
    except InvalidTransaction as exc:
        assert_named(exc)
        return
    assert isinstance(booked, list)
    assert_valid(booked, utc)


def assert_named(refusal: InvalidTransaction) -> None:
    """A refusal names at least one field, each with at least one problem in words."""
    assert refusal.fields and all(isinstance(path, str) and problems for path, problems in refusal.fields.items())
    assert all(isinstance(problem, str) for problems in refusal.fields.values() for problem in problems)


def assert_valid(transactions, utc: bool = True) -> None:
    """What the hub may book: sales, refunds, payments, cancellations, edits at aware times, in whole non-negative minor units.

    In UTC too if `utc` (an adapter that reads local times converts them with the partner's zone).
    """
    for booked in transactions:
        if isinstance(booked, Ignored):  # said why: the hub answers 200 and books nothing
            assert booked.order_id and booked.reason
            continue
        offset = booked.occurred_at.utcoffset()
        assert offset is not None and (not utc or offset.total_seconds() == 0)
        if isinstance(booked, (Payment, Cancellation, Amendment)):  # an order's later news: a sale it carries is one too
            assert booked.order_id
            assert_valid([booked.sale] if getattr(booked, "sale", None) else [], utc)
            if isinstance(booked, Amendment):
                assert isinstance(booked.total.minor, int) and booked.total.minor >= 0
            continue
        assert isinstance(booked, (Sale, Refund))
        assert isinstance(booked.total.minor, int) and booked.total.minor >= 0
        for money in (getattr(booked, name, None) for name in ("paid", "charged", "charged_back")):
            assert money is None or (isinstance(money.minor, int) and money.minor >= 0
                                     and money.currency == booked.total.currency)
        assert 1 <= len(booked.order_id) <= MAX_ORDER_ID
        for item in booked.items:
            assert item.quantity > 0 and item.unit_price.currency == booked.total.currency
