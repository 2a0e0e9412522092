"""Closing a period: the figures, the statement, its Merkle root, chain hash and signature, stored once.

A run closes [end of the previous statement, end). `end` must lie a grace
period in the past: an entry's booking time is taken when its request
starts and it commits a moment later, so a period closed right up to now
could miss one that is still committing and would then belong to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from network.errors import Invalid, NotFound
from network.models import Partner, Statement
from settlement import disputes
from settlement.canonical import canonical_bytes, sha256_hex
from settlement.figures import NETWORK, Opening, Period, settle
from settlement.merkle import inclusion_proof, merkle_root, section_index, section_leaves
from settlement.statement import NETWORK_SLUG, build


class Draft(NamedTuple):
    start: datetime | None
    statement: dict


def draft(session: Session, *, end: datetime, now: datetime, grace: timedelta, currency: str, network: str) -> Draft:
    """The statement closing [last end, end) would be, Merkle root included: neither signed nor stored.

    What a closing shows before it is confirmed, built by the same steps
    as the statement it stores, so the preview is the statement.
    """
    if end > now - grace:
        raise Invalid(f"A period can end at the latest {int(grace.total_seconds())} s before now",
                      {"end": [f"must be at or before {(now - grace).isoformat()}"]}, code="period_not_over")
    last = session.execute(
        select(Statement.sequence, Statement.period_end, Statement.hash, Statement.canonical)
        .order_by(Statement.sequence.desc()).limit(1)
    ).first()
    start = last.period_end if last else None
    if start is not None and end <= start:
        raise Invalid("The period would be empty: it starts where the last statement ended",
                      {"end": [f"must be after {start.isoformat()}"]}, code="period_closed")
    sequence = last.sequence + 1 if last else 1
    slugs = dict(session.execute(select(Partner.id, Partner.slug)).all())
    opening = _opening(last.canonical, start, slugs) if last else None
    figures = settle(session, Period(start, end), currency, opening=opening)
    figures.adjustments, ended = disputes.ended_in(session, Period(start, end), currency)
    statement = build(figures, sequence=sequence, network=network, slugs=slugs,
                      previous_hash=last.hash if last else None)
    if ended:  # the disputes ended in the period, and how: listed only when there are any
        statement["disputes"] = ended
    statement["merkle_root"] = merkle_root(section_leaves(statement["partners"]))
    return Draft(start, statement)


def opening_before(session: Session, at: datetime) -> Opening | None:
    """What members held at the end of the last statement closed by `at`: where figures up to `at` can start.

    None when no statement ends by then (or the last names a partner no
    longer known): the figures are then summed from the first entry.
    """
    last = session.execute(select(Statement.period_end, Statement.canonical).where(Statement.period_end <= at)
                           .order_by(Statement.sequence.desc()).limit(1)).first()
    if last is None:
        return None
    return _opening(last.canonical, last.period_end, dict(session.execute(select(Partner.id, Partner.slug)).all()))


def _opening(canonical: str, at: datetime, slugs: dict[int, str]) -> Opening | None:
    """The last statement's outstanding points, by issuer: the next period rolls them forward.

    None (sum them from the first entry) if it names a partner this hub no
    longer knows by that slug.
    """
    ids = {slug: party for party, slug in slugs.items()} | {NETWORK_SLUG: NETWORK}
    sections = json.loads(canonical)["partners"]
    if any(section["partner"] not in ids for section in sections):
        return None
    return Opening(at, {ids[section["partner"]]: section["outstanding"] for section in sections})


def close_period(
    session: Session,
    *,
    end: datetime,
    now: datetime,
    grace: timedelta,
    currency: str,
    network: str,
    sign: Callable[[bytes], dict],
) -> dict:
    start, statement = draft(session, end=end, now=now, grace=grace, currency=currency, network=network)
    sequence = statement["sequence"]
    data = canonical_bytes(statement)
    signatures = {"statement": sign(data), "root": sign(canonical_bytes(signed_root(statement, sha256_hex(statement))))}
    # The sequence is the primary key: two runs racing for one period cannot both store it.
    session.execute(insert(Statement).values(sequence=sequence, period_start=start, period_end=end,
                                             canonical=data.decode(), hash=sha256_hex(statement),
                                             signature=signatures, created_at=now))
    return {"statement": statement, "signature": signatures["statement"]}


def signed_root(statement: dict, statement_hash: str) -> dict:
    """What a partner can check without the others' sections: the statement's head, Merkle root and hash included.

    The hub signs it beside the whole statement, so a partner holding only
    its section, the inclusion proof and this head verifies all three
    offline, and knows the hash it countersigns is the hub's.
    """
    head = {key: statement[key] for key in ("sequence", "network", "period", "currency", "merkle_root", "previous_hash")}
    return {**head, "statement_hash": statement_hash}


def _stored(session: Session, sequence: int) -> Statement:
    found = session.get(Statement, sequence) if 0 < sequence < 2**31 else None
    if found is None:
        raise NotFound(f"No statement {sequence}", code="unknown_statement")
    return found


def signed_statement(session: Session, sequence: int) -> dict:
    stored = _stored(session, sequence)
    return {"statement": json.loads(stored.canonical), "signature": stored.signature["statement"]}


def partner_section(session: Session, sequence: int, slug: str) -> dict:
    """One partner's section with its inclusion proof against the signed Merkle root: it sees no one else's."""
    stored = _stored(session, sequence)
    statement = json.loads(stored.canonical)
    sections = statement["partners"]
    try:
        index = section_index(sections, slug)
    except (KeyError, ValueError):
        raise NotFound(f"Statement {sequence} has no section for {slug!r}", code="unknown_partner") from None
    return {
        "sequence": sequence,
        "section": sections[index],
        "proof": inclusion_proof(section_leaves(sections), index),
        "merkle_root": statement["merkle_root"],
        "statement_hash": stored.hash,
        "signed_root": signed_root(statement, stored.hash),
        "signature": stored.signature["root"],
    }


def listed(session: Session, *, after: int | None, limit: int, partner_since: datetime | None = None) -> list:
    """Stored statements newest first (by sequence, below `after`); with `partner_since`, only those that have the
    section of a partner created then: every partner that existed by a period's end has one
    (settlement.figures.partners_contracts), and a partner's creation never moves."""
    query = select(Statement.sequence, Statement.period_start, Statement.period_end, Statement.created_at, Statement.hash)
    if after is not None:
        query = query.where(Statement.sequence < after)
    if partner_since is not None:
        query = query.where(Statement.period_end > partner_since)
    return session.execute(query.order_by(Statement.sequence.desc()).limit(limit)).all()
