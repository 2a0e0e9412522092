"""An issuing partner's funding: prepaid, or on credit up to a limit; what its points have drawn on it.

Each point a controlled partner issues draws its issue fee plus its
expected redemption value. The earn checks and moves the partner's one
row in a single conditional UPDATE: the row lock orders concurrent sales,
and PostgreSQL checks the condition again on the row each one finds, so
no two sales can together pass the limit. Funds (a prepayment recorded by
finance, the bank statement's entries) raise what may be drawn; a refund
gives back what its points drew, at the amount a point of its sale drew
(kept on the sale's order: the contract may have changed since).

Past the limit a partner's sales are refused, or (`over_limit` "pending")
booked pending and queued here until funds cover them
(network.earning.unfunded releases them, planning how far from the
partner's `room` before it locks the row).

Amounts are kept in millionths of the settlement currency's unit (micros):
a point's cost has more places than money.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid
from network.models import Order, Partner, PartnerCredit, Prepayment, UnfundedSale, int_sum

PREPAID, CREDIT = "prepaid", "credit"
FUNDINGS = (PREPAID, CREDIT)
#: What happens to a sale past what the partner may draw: refused (402), or its points pending until funds arrive.
REFUSE, PENDING = "refuse", "pending"
OVER_LIMIT = (REFUSE, PENDING)
MICROS = Decimal(1_000_000)
#: The share of what may be drawn at which the partner and the operator are warned.
WARN_AT = Decimal("0.8")


def micros(amount: Decimal, *, up: bool = False) -> int:
    return int((amount * MICROS).quantize(Decimal(1), rounding=ROUND_CEILING if up else ROUND_HALF_EVEN))


def major(value: int) -> Decimal:
    return Decimal(value) / MICROS


def configure(session: Session, partner_id: int, *, funding: str | None, credit_limit: Decimal | None,
              point_cost: Decimal, now: datetime, over_limit: str | None = None) -> None:
    """Set (or lift, with `funding` None) the partner's control; what it drew and was funded with stays, and so does
    what a sale past its limit does unless `over_limit` says: a new rate must not quietly turn waiting into refusing."""
    if funding is not None and funding not in FUNDINGS:
        raise Invalid(f"funding is one of {', '.join(FUNDINGS)}", {"funding": [f"not {funding!r}"]})
    if over_limit is not None and over_limit not in OVER_LIMIT:
        raise Invalid(f"over_limit is one of {', '.join(OVER_LIMIT)}", {"over_limit": [f"not {over_limit!r}"]})
    session.execute(update(Partner).where(Partner.id == partner_id).values(
        funding=funding, **({} if over_limit is None else {"over_limit": over_limit})))
    if funding is None:
        return
    limit, cost = terms(funding, credit_limit, point_cost)
    found = session.execute(update(PartnerCredit).where(PartnerCredit.partner_id == partner_id).values(
        limit_micros=limit, point_cost_micros=cost, updated_at=now).returning(PartnerCredit.partner_id)).first()
    if found is None:
        session.execute(insert(PartnerCredit).values(partner_id=partner_id, limit_micros=limit, point_cost_micros=cost,
                                                     drawn_micros=0, funded_micros=0, warned=None, updated_at=now))


def terms(funding: str, credit_limit: Decimal | None, point_cost: Decimal) -> tuple[int, int]:
    """A contract's limit and what a point draws, in micros, as `configure` stores them."""
    limit = 0 if funding == PREPAID else micros(credit_limit or Decimal(0))
    return limit, micros(point_cost, up=True)  # a point never draws less than it costs


@dataclass(frozen=True)
class Room:
    """What the partner may still draw (micros), and what a point draws: how far funds reach down its queue."""

    micros: int
    cost: int

    def more(self, micros: int) -> Room:
        return Room(self.micros + micros, self.cost)

    def fitting(self, points: Sequence[int]) -> tuple[int, int]:
        """How many of `points` (sales, oldest first) fit, up to the first that does not, and their points."""
        count = total = 0
        for sale in points:
            if (total + sale) * self.cost > self.micros:
                break
            count, total = count + 1, total + sale
        return count, total


_ROOM = select(PartnerCredit.funded_micros + PartnerCredit.limit_micros - PartnerCredit.drawn_micros,
               PartnerCredit.point_cost_micros)


def room(session: Session, partner_id: int, *, lock: bool = False) -> Room | None:
    """The partner's room, from its one row (None: it has none); `lock`: the row locked, as a draw locks it.

    Locked, every sale and release of the partner reads its queue after
    the one before it committed: whether anything waits is decided in turn.
    """
    statement = _ROOM.where(PartnerCredit.partner_id == partner_id)
    found = session.execute(statement.with_for_update() if lock else statement).first()
    return None if found is None else Room(*found)


def room_under(session: Session, partner_id: int, *, funding: str | None, credit_limit: Decimal | None,
               point_cost: Decimal) -> Room | None:
    """The room these contract terms would leave the partner (read unlocked); None when they lift control: no bound."""
    if funding is None:
        return None
    limit, cost = terms(funding, credit_limit, point_cost)
    found = session.execute(select(PartnerCredit.funded_micros - PartnerCredit.drawn_micros).where(
        PartnerCredit.partner_id == partner_id)).scalar()
    return Room((found or 0) + limit, cost)


@dataclass(frozen=True)
class Drawn:
    drawn: int
    funded: int
    limit: int
    warned: str | None
    cost: int  # what each point of this draw drew

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
                   PartnerCredit.warned, PartnerCredit.point_cost_micros)
    ).first()
    return None if row is None else Drawn(*row)


def draw_first(session: Session, partner_id: int, points: Sequence[int], now: datetime) -> tuple[int, Drawn | None]:
    """Draw for the first of `points` (sales, oldest first) that the funds cover, up to the first they do not.

    The row is read FOR UPDATE, so the conditional UPDATE that draws passes
    on what was read: a sale that waits is never one that would have fitted.
    Returns how many drew, and the row after (None if none did).
    """
    if len(points) == 1:  # one sale: the conditional UPDATE alone decides
        drawn = draw(session, partner_id, points[0], now)
        return (0, None) if drawn is None else (1, drawn)
    found = room(session, partner_id, lock=True)
    count, total = found.fitting(points) if found is not None else (0, 0)
    drawn = draw(session, partner_id, total, now) if count else None
    return (0, None) if drawn is None else (count, drawn)


_orders = Order.__table__
_DREW = update(_orders).where(_orders.c.id == bindparam("sale")).values(
    point_cost_micros=bindparam("cost"), drawn_points=bindparam("drew"))


def drew_in_full(session: Session, cost: int, sale_ids: Sequence[int]) -> None:
    """Remember on sales just booked that all their points drew, `cost` each: what their refunds give back."""
    if sale_ids:
        session.execute(update(_orders).where(_orders.c.id.in_(sale_ids)).values(point_cost_micros=cost,
                                                                                drawn_points=_orders.c.points))


def drew(session: Session, cost: int, points_by_sale: dict[int, int]) -> None:
    """Remember on released sales how many of their points drew (a refund may have taken some while they waited)."""
    if points_by_sale:
        session.connection().execute(_DREW, [{"sale": sale, "cost": cost, "drew": points}
                                             for sale, points in points_by_sale.items()])


def give_back(session: Session, partner_id: int, sale_id: int, points: int, now: datetime, *, emptied: bool) -> int:
    """A refund took `points` of the sale back: what they drew returns to the partner's funds (micros returned).

    At most the points of the sale that drew and were not given back
    already; a sale whose points never drew (they waited for funds, or the
    partner was not controlled) gives nothing, and leaves the queue if
    `emptied` (none of its points is left to wait). The caller holds the
    sale's member's lock, which a release takes too, so what is read here
    is the sale's latest; it then releases what waits that the funds given
    back cover (network.earning.unfunded.after_refunds).
    """
    found = session.execute(select(Order.point_cost_micros, Order.drawn_points).where(Order.id == sale_id)).first()
    if found is not None and found.point_cost_micros is None and emptied:
        done_waiting(session, [sale_id])
    if points <= 0 or found is None or found.point_cost_micros is None or not found.drawn_points:
        return 0
    back = min(points, found.drawn_points)
    session.execute(update(_orders).where(_orders.c.id == sale_id).values(drawn_points=_orders.c.drawn_points - back))
    returned = back * found.point_cost_micros
    session.execute(update(PartnerCredit).where(PartnerCredit.partner_id == partner_id).values(
        drawn_micros=PartnerCredit.drawn_micros - returned, updated_at=now))
    return returned


def wait(session: Session, partner_id: int, sale_ids: Sequence[int], now: datetime) -> None:
    """Queue sales whose points wait, pending, for the partner's funds."""
    if sale_ids:
        session.execute(insert(UnfundedSale), [{"order_id": sale, "partner_id": partner_id, "created_at": now}
                                               for sale in sale_ids])


def waiting(session: Session, partner_id: int, *, after: int, limit: int) -> list[int]:
    """The partner's queued sales (their order rows), oldest first, after the order row `after`."""
    return list(session.scalars(select(UnfundedSale.order_id).where(
        UnfundedSale.partner_id == partner_id, UnfundedSale.order_id > after).order_by(UnfundedSale.order_id).limit(limit)))


def done_waiting(session: Session, sale_ids: Sequence[int]) -> None:
    if sale_ids:
        session.execute(UnfundedSale.__table__.delete().where(UnfundedSale.order_id.in_(sale_ids)))


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
    ((funding, row, over_limit),) = found
    return {"funding": funding, "credit_limit": str(major(row.limit_micros)), "point_cost": str(major(row.point_cost_micros)),
            "over_limit": over_limit}


def exposure(session: Session, partner_id: int) -> dict:
    """What the partner may still issue against, as finance and the partner read it (money as decimal strings)."""
    found = _controlled(session, Partner.id == partner_id)
    return _exposure(*found[0]) if found else {"funding": None}


def exposures(session: Session) -> list[dict]:
    """Every controlled partner's exposure, by slug, with the sales waiting for its funds: what the desk lists."""
    waiting = (select(UnfundedSale.partner_id, func.count().label("sales"), int_sum(Order.points).label("points"))
               .join(Order, Order.id == UnfundedSale.order_id).group_by(UnfundedSale.partner_id).subquery())
    query = (_CONTROLLED.add_columns(Partner.slug, waiting.c.sales, waiting.c.points)
             .outerjoin(waiting, waiting.c.partner_id == Partner.id).order_by(Partner.slug))
    return [{"slug": slug, **_exposure(funding, row, over_limit), "waiting_sales": sales or 0,
             "waiting_points": int(points or 0)}
            for funding, row, over_limit, slug, sales, points in session.execute(query)]


_CONTROLLED = (select(Partner.funding, PartnerCredit, Partner.over_limit)
               .join(PartnerCredit, PartnerCredit.partner_id == Partner.id).where(Partner.funding.is_not(None)))


def _controlled(session: Session, *where) -> list:
    return session.execute(_CONTROLLED.where(*where)).all()


def _exposure(funding: str, row: PartnerCredit, over_limit: str) -> dict:
    cap = row.funded_micros + row.limit_micros
    return {"funding": funding, "over_limit": over_limit, "credit_limit": str(major(row.limit_micros)), "funded": str(major(row.funded_micros)),
            "drawn": str(major(row.drawn_micros)), "available": str(major(cap - row.drawn_micros)),
            "point_cost": str(major(row.point_cost_micros)),
            "used_share": None if cap <= 0 else str((Decimal(row.drawn_micros) / cap).quantize(Decimal("0.0001"))),
            "points_left": (cap - row.drawn_micros) // row.point_cost_micros if row.point_cost_micros else None}
