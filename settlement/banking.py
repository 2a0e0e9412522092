"""Bank accounts the network pays from and to: an account holder, an IBAN and a BIC, each checked before it is kept.

schwifty checks the IBAN's checksum and its country's length and the
BIC's form, so a mistyped digit is refused when finance enters it, not
when the bank rejects the whole transfer file a month later.
"""

from __future__ import annotations

from dataclasses import dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from network.errors import Invalid

#: ISO 20022's Max70Text for a party's name.
HOLDER_MAX = 70


@dataclass(frozen=True)
class BankAccount:
    holder: str
    iban: str  # compact: no spaces, upper case
    bic: str

    def view(self) -> dict:
        return {"account_holder": self.holder, "iban": self.iban, "bic": self.bic}


def checked(holder: str, iban: str, bic: str, *, names: tuple[str, str, str] = ("account_holder", "iban", "bic")
            ) -> BankAccount:
    """The account, in its compact form; a 422 naming each field that is wrong (`names`: how the caller calls them)."""
    errors: dict[str, list[str]] = {}
    holder = " ".join((holder or "").split())
    if not holder or len(holder) > HOLDER_MAX:
        errors[names[0]] = [f"must be 1 to {HOLDER_MAX} characters"]
    try:
        iban = IBAN(iban or "").compact
    except (SchwiftyException, ValueError) as exc:
        errors[names[1]] = [f"is not a valid IBAN ({exc})"]
    try:
        bic = BIC(bic or "").compact
    except (SchwiftyException, ValueError) as exc:
        errors[names[2]] = [f"is not a valid BIC ({exc})"]
    if errors:
        raise Invalid("The bank account is not valid", errors, code="invalid_bank_account")
    return BankAccount(holder, iban, bic)
