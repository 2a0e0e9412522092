"""What the analytics keep between requests: the fitted value models a member's predicted value is read from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id


class ValueModel(Base):
    """One fit of BG/NBD and Gamma-Gamma (analytics.btyd) to the members' purchases in one currency, up to `as_of`.

    Fitting reads every member's history, so it is a job (`coalition
    analytics fit`); answering one member reads the latest fit and that
    member's own purchases. Fits are kept, so a figure can be traced to the
    parameters that made it.
    """

    __tablename__ = "value_models"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), index=True)
    as_of: Mapped[datetime]
    fitted_at: Mapped[datetime]
    #: Members with a purchase the fit saw, and of them those who bought on two days or more.
    members: Mapped[int]
    repeaters: Mapped[int]
    #: {"r", "alpha", "a", "b"} and {"p", "q", "gamma"} (gamma in minor units), as decimal strings of the floats found.
    frequency: Mapped[dict] = mapped_column(JSON)
    spend: Mapped[dict | None] = mapped_column(JSON)
