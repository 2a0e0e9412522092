"""A member's predicted value: the value models fitted to every member's purchases, and one member's prediction.

The fit reads the programme's purchase histories grouped in the database
into (x, t_x, T) with a count, and (purchases, mean) with a count: the
models' sufficient statistics, never a row per member. Means are binned to
two or three significant digits (under 0.5% off) so a million members make
a few thousand groups. The fit is a job (`coalition analytics fit`); a
member's prediction reads the latest fit and that member's own purchases
through the member's index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from analytics.btyd import Frequency, Spend, fit, frequency_loglik, spend_loglik
from analytics.spend import bought_at, of_member, signed, spending
from analytics.window import day_number
from network.ledger.kinds import OrderKind
from network.models import Order, ValueModel, int_sum
from partners.money import Money

#: How the prediction is made, as the page and the API state it.
METHOD = ("BG/NBD (Fader, Hardie & Lee 2005) for the number of purchases, Gamma-Gamma (Fader & Hardie 2013) for "
          "their mean, fitted by maximum likelihood to every member's purchase days up to the fit's date (a day's "
          "purchases are one; spend is sales less refunds; the mean is over all the member's purchase days, the first "
          "included, where the paper takes repeat ones); value = expected purchases in the horizon x expected mean "
          "purchase, undiscounted.")
#: The horizon of a prediction unless asked otherwise: a year.
HORIZON_DAYS = 365
#: Fewer repeat buyers than this and nothing is fitted: the estimates would be noise (a lone buyer's fit
#: sends alpha to infinity).
MIN_REPEATERS = 20
#: Days in the models' unit of time.
WEEK = 7.0


@dataclass(frozen=True)
class Unfitted:
    """A currency with too few repeat buyers to fit: said, not kept."""

    currency: str
    members: int
    repeaters: int


def histories(session: Session, currency: str, until: datetime, member_id: str | None = None):
    """Per member: purchase days, the first and last of them (day numbers), and net spend (minor units)."""
    dialect = session.get_bind().dialect.name
    day = day_number(dialect, bought_at)
    sale = Order.kind == OrderKind.SALE
    query = (select(Order.member_id.label("member_id"), func.count(case((sale, day)).distinct()).label("days"),
                    func.min(case((sale, day))).label("first"), func.max(case((sale, day))).label("last"),
                    int_sum(signed).label("spend"))
             .where(*spending(Order.currency == currency, Order.booked_at < until))
             .group_by(Order.member_id))
    if member_id is not None:
        query = query.where(of_member(member_id))
    return query


def _binned(mean):
    """An integer mean kept to three significant digits or more (under 0.5% off), in integer SQL on both databases."""
    steps = [(mean < 1000 * step, (mean + step // 2) // step * step) for step in (10, 100, 1000, 10**4, 10**5, 10**6)]
    return case((mean < 1000, mean), *steps, else_=(mean + 5 * 10**6) // 10**7 * 10**7)


def currencies(session: Session) -> list[str]:
    """The currencies members bought in: a model each."""
    return list(session.scalars(select(Order.currency).where(Order.kind == "sale", Order.currency.is_not(None))
                                .distinct().order_by(Order.currency)))


def fit_value_model(session: Session, currency: str, as_of: datetime, now: datetime) -> ValueModel | Unfitted | None:
    """Fit both models to the members' purchases in `currency` before `as_of`, keep the fit, and return it.

    None when no member has bought in the currency, `Unfitted` with fewer than MIN_REPEATERS repeat buyers.
    Needs SciPy (the `model` extra).
    """
    import numpy as np

    today = _day(as_of)
    each = histories(session, currency, as_of).subquery()
    # Labelled inside, grouped outside: PostgreSQL would not see two binds of `today` as one expression.
    stats = select((each.c.days - 1).label("x"), (each.c.last - each.c.first).label("span"),
                   (literal(today) - each.c.first).label("age")).where(each.c.days > 0).subquery()
    groups = session.execute(select(stats.c.x, stats.c.span, stats.c.age, func.count())
                             .group_by(stats.c.x, stats.c.span, stats.c.age)).all()
    if not groups:
        return None
    x, span, age, weight = (np.asarray(column, dtype=float) for column in zip(*groups))
    members, repeaters = int(weight.sum()), int(weight[x > 0].sum())
    if repeaters < MIN_REPEATERS:
        return Unfitted(currency, members, repeaters)
    found = fit(frequency_loglik, (1.0, 10.0, 1.0, 1.0), x, span / WEEK, np.maximum(age, span) / WEEK, weight)
    if found is None:
        return Unfitted(currency, members, repeaters)
    frequency, _ = found
    means = (select(each.c.days.label("n"), _binned(each.c.spend // each.c.days).label("mean"))
             .where(each.c.days > 0, each.c.spend >= each.c.days).subquery())  # a mean of at least one minor unit
    spends = session.execute(select(means.c.n, means.c.mean, func.count()).group_by(means.c.n, means.c.mean)).all()
    spend = None
    if spends:
        n, mean, counts = (np.asarray(column, dtype=float) for column in zip(*spends))
        found = fit(spend_loglik, (1.0, 2.0, float(np.median(mean))), n, mean, counts)
        spend = None if found is None else found[0]
    model = ValueModel(currency=currency, as_of=as_of, fitted_at=now, members=members, repeaters=repeaters,
                       frequency=dict(zip(("r", "alpha", "a", "b"), map(_text, frequency))),
                       spend=None if spend is None else dict(zip(("p", "q", "gamma"), map(_text, spend))))
    session.add(model)
    session.flush()
    return model


def _day(moment: datetime) -> int:
    """The UTC day number of a moment, as `day_number` counts in SQL."""
    return (moment.astimezone(timezone.utc).date() - date(1970, 1, 1)).days


def _text(value: float) -> str:
    return f"{value:.10g}"


def latest_models(session: Session) -> dict[str, ValueModel]:
    """The newest fit in each currency."""
    newest = select(ValueModel.currency, func.max(ValueModel.id).label("id")).group_by(ValueModel.currency).subquery()
    rows = session.scalars(select(ValueModel).join(newest, newest.c.id == ValueModel.id))
    return {model.currency: model for model in rows}


def predicted(session: Session, member_id: str, now: datetime, horizon_days: int = HORIZON_DAYS) -> list[dict]:
    """The member's predicted purchases and value over the horizon, per currency with a fitted model."""
    answers = []
    today = _day(now)
    for currency, model in sorted(latest_models(session).items()):
        history = session.execute(histories(session, currency, now + timedelta(seconds=1), member_id)).first()
        if history is None or not history.days:
            continue
        x, t_x, T = history.days - 1, (history.last - history.first) / WEEK, max(today - history.first, 0) / WEEK
        frequency = Frequency(**{name: float(value) for name, value in model.frequency.items()})
        purchases = frequency.expected_purchases(horizon_days / WEEK, x, min(t_x, T), T)
        answer = {"currency": currency, "horizon_days": horizon_days,
                  "purchases": None if purchases is None else f"{purchases:.2f}",
                  "alive": f"{frequency.alive(x, min(t_x, T), T):.4f}", "mean_purchase": None, "value": None,
                  "model": {"id": model.id, "as_of": model.as_of.isoformat(), "method": METHOD}}
        spent = int(history.spend)
        if model.spend is not None and spent >= history.days:
            spend = Spend(**{name: float(value) for name, value in model.spend.items()})
            mean = spend.expected_mean(history.days, spent / history.days)
            answer["mean_purchase"] = str(Money(max(round(mean), 0), currency))
            if purchases is not None:
                answer["value"] = str(Money(max(round(mean * purchases), 0), currency))
        answers.append(answer)
    return answers


def model_views(session: Session) -> list[dict]:
    """The newest fit in each currency as the API and the desk show them, by currency."""
    return [model_view(model) for _, model in sorted(latest_models(session).items())]


def model_view(model: ValueModel) -> dict:
    """A fit as the API and the desk show it."""
    return {"id": model.id, "currency": model.currency, "as_of": model.as_of.isoformat(),
            "fitted_at": model.fitted_at.isoformat(), "members": model.members, "repeaters": model.repeaters,
            "frequency": model.frequency, "spend": model.spend, "method": METHOD}
