"""An issuing partner's funding: prepaid, or on credit up to a limit; what its points have drawn on it.

Each point a controlled partner issues draws its issue fee plus its
expected redemption value. The earn checks and moves the partner's one
row in a single conditional UPDATE: the row lock orders concurrent sales,
and PostgreSQL checks the condition again on the row each one finds, so
no two sales can together pass the limit. Funds (a prepayment recorded by
finance, the bank statement's entries) raise what may be drawn.

Amounts are kept in millionths of the settlement currency's unit (micros):
a point's cost has more places than money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid
from network.models import Partner, PartnerCredit, Prepayment

PREPAID, CREDIT = "prepaid", "credit"
FUNDINGS = (PREPAID, CREDIT)
MICROS = Decimal(1_000_000)
#: The share of what may be drawn at which the partner and the operator are warned.
WARN_AT = Decimal("0.8")


def micros(amount: Decimal, *, up: bool = False) -> int:
    return int((amount * MICROS).quantize(Decimal(1), rounding=ROUND_CEILING if up else ROUND_HALF_EVEN))


def major(value: int) -> Decimal:
    return Decimal(value) / MICROS


def configure(session: Session, partner_id: int, *, funding: str | None, credit_limit: Decimal | None,
              point_cost: Decimal, now: datetime) -> None:
    """Set (or lift, with `funding` None) the partner's control; what it drew and was funded with stays."""
    if funding is not None and funding not in FUNDINGS:
        raise Invalid(f"funding is one of {', '.join(FUNDINGS)}", {"funding": [f"not {funding!r}"]})
    session.execute(update(Partner).where(Partner.id == partner_id).values(funding=funding))
    if funding is None:
        return
    limit = 0 if funding == PREPAID else micros(credit_limit or Decimal(0))
    cost = micros(point_cost, up=True)  # a point never draws less than it costs
    found = session.execute(update(PartnerCredit).where(PartnerCredit.partner_id == partner_id).values(
        limit_micros=limit, point_cost_micros=cost, updated_at=now).returning(PartnerCredit.partner_id)).first()
    if found is None:
        session.execute(insert(PartnerCredit).values(partner_id=partner_id, limit_micros=limit, point_cost_micros=cost,
                                                     drawn_micros=0, funded_micros=0, warned=None, updated_at=now))


@dataclass(frozen=True)
class Drawn:
    drawn: int
    funded: int
    limit: int
    warned: str | None

    @property
    def warn(self) -> bool:
        """Whether this draw took the partner past the warning share for the first time since its last funds."""
        cap = self.funded + self.limit
        return self.warned is None and cap > 0 and Decimal(self.drawn) >= WARN_AT * cap


def draw(session: Session, partner_id: int, points: int, now: datetime) -> Drawn | None:
    """Draw `points` issued on the partner's row; None (and nothing drawn) when its funds and limit would not cover it."""
    cost = PartnerCredit.point_cost_micros * points
    row = session.execute(
        update(PartnerCredit)
        .where(PartnerCredit.partner_id == partner_id,
               PartnerCredit.drawn_micros + cost <= PartnerCredit.funded_micros + PartnerCredit.limit_micros)
        .values(drawn_micros=PartnerCredit.drawn_micros + cost, updated_at=now)
        .returning(PartnerCredit.drawn_micros, PartnerCredit.funded_micros, PartnerCredit.limit_micros,
                   PartnerCredit.warned)
    ).first()
    return None if row is None else Drawn(*row)


def mark_warned(session: Session, partner_id: int) -> None:
    session.execute(update(PartnerCredit).where(PartnerCredit.partner_id == partner_id).values(warned="80"))


def fund(session: Session, partner_id: int, amount: Decimal, reference: str, now: datetime) -> dict:
    """Record funds the partner sent (once per reference) and raise what it may draw; its warning may fire again."""
    if amount <= 0:
        raise Invalid("A prepayment is a positive amount", {"amount": ["must be more than 0"]})
    if session.scalar(select(Prepayment.id).where(Prepayment.partner_id == partner_id,
                                                  Prepayment.reference == reference)) is not None:
        raise Conflict(f"Funds with reference {reference!r} are recorded already", {"reference": [reference]},
                       code="prepayment_exists")
    session.execute(insert(Prepayment).values(partner_id=partner_id, amount_micros=micros(amount), reference=reference,
                                              created_at=now))
    session.execute(update(PartnerCredit).where(PartnerCredit.partner_id == partner_id).values(
        funded_micros=PartnerCredit.funded_micros + micros(amount), warned=None, updated_at=now))
    return exposure(session, partner_id)


def settings(session: Session, partner_id: int) -> dict:
    """The partner's funding as its contract shows it (not what it drew: that moves with every sale)."""
    found = _controlled(session, Partner.id == partner_id)
    if not found:
        return {"funding": None}
    ((funding, row),) = found
    return {"funding": funding, "credit_limit": str(major(row.limit_micros)), "point_cost": str(major(row.point_cost_micros))}


def exposure(session: Session, partner_id: int) -> dict:
    """What the partner may still issue against, as finance and the partner read it (money as decimal strings)."""
    found = _controlled(session, Partner.id == partner_id)
    return _exposure(*found[0]) if found else {"funding": None}


def exposures(session: Session) -> list[dict]:
    """Every controlled partner's exposure, by slug, in one query: what the desk lists."""
    return [{"slug": slug, **_exposure(funding, row)}
            for funding, row, slug in session.execute(_CONTROLLED.add_columns(Partner.slug).order_by(Partner.slug))]


_CONTROLLED = select(Partner.funding, PartnerCredit).join(PartnerCredit, PartnerCredit.partner_id == Partner.id).where(
    Partner.funding.is_not(None))


def _controlled(session: Session, *where) -> list:
    return session.execute(_CONTROLLED.where(*where)).all()


def _exposure(funding: str, row: PartnerCredit) -> dict:
    cap = row.funded_micros + row.limit_micros
    return {"funding": funding, "credit_limit": str(major(row.limit_micros)), "funded": str(major(row.funded_micros)),
            "drawn": str(major(row.drawn_micros)), "available": str(major(cap - row.drawn_micros)),
            "point_cost": str(major(row.point_cost_micros)),
            "used_share": None if cap <= 0 else str((Decimal(row.drawn_micros) / cap).quantize(Decimal("0.0001"))),
            "points_left": (cap - row.drawn_micros) // row.point_cost_micros if row.point_cost_micros else None}
