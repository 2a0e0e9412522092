"""How much of a refund's points a member gives back: the network's claw-back policy.

A refund owes back its share of the sale's awards. Where it comes from:

- `only_pending`: only points of the sale still pending (inside the return
  window); once available, the member keeps them.
- `within_balance` (the default): the sale's own lot first, pending or
  available; then the member's other available points; never below zero.
- `unlimited`: as `within_balance`, and what is still missing is left owing
  (the member's `owed` account, a `Debt` to the refunding partner). The
  balance goes negative through a claw-back, never through a redemption,
  and the next points the member has repay it (network.ledger.debts).

What is not collected is reported as `uncollected_points`.

For settlement, points taken from the sale's own lot correct what the
refunding partner issued; points of another issuer taken by a refund or a
repayment were spent at the refunding partner, like a redemption there.
"""

from __future__ import annotations

from dataclasses import dataclass

ONLY_PENDING, WITHIN_BALANCE, UNLIMITED = "only_pending", "within_balance", "unlimited"
POLICIES = (ONLY_PENDING, WITHIN_BALANCE, UNLIMITED)


@dataclass(frozen=True)
class Split:
    own: int  # from the sale's own lot
    others: int  # from the member's other available lots
    owed: int  # left owing (unlimited only)

    @property
    def total(self) -> int:
        return self.own + self.others + self.owed


def split(policy: str, due: int, *, own_remaining: int, own_pending: bool, others_available: int) -> Split:
    """Where `due` points come from under `policy`; no database needed."""
    if policy not in POLICIES:
        raise ValueError(f"unknown claw-back policy {policy!r}")
    if policy == ONLY_PENDING:
        return Split(min(due, own_remaining) if own_pending else 0, 0, 0)
    own = min(due, own_remaining)
    others = min(due - own, max(others_available, 0))
    owed = due - own - others if policy == UNLIMITED else 0
    return Split(own, others, owed)
