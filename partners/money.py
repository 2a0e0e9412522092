"""Money as an integer count of minor units, with its ISO 4217 currency.

Prices cross the wire as decimal strings in the major unit ("12.50"); inside
the system they are integers so that no float ever rounds a cent away. The
number of decimals is the currency's own (JPY 0, EUR 2, KWD 3): "12.5" is a
valid EUR amount, "12.505" is not, and "12.5" is not a valid JPY amount.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL "
    "BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP "
    "DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR "
    "ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD "
    "MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN "
    "PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP "
    "STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES "
    "WST XCD YER ZAR ZMW ZWG"
)

#: ISO 4217 active codes and their number of minor-unit decimals.
CURRENCY_DECIMALS: dict[str, int] = {
    **{code: 0 for code in _ZERO.split()},
    **{code: 2 for code in _TWO.split()},
    **{code: 3 for code in _THREE.split()},
    **{code: 4 for code in _FOUR.split()},
}

#: Far above any till's total, far below a 64-bit column: 10^15 minor units.
MAX_MINOR = 10**15

_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,17})(?:\.([0-9]+))?$")


class MoneyError(ValueError):
    """An amount or currency that cannot be money; the message says why."""


def decimals(currency: str) -> int:
    try:
        return CURRENCY_DECIMALS[currency]
    except KeyError:
        raise MoneyError(f"{currency!r} is not an ISO 4217 currency code") from None


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    @classmethod
    def parse(cls, amount: str, currency: str) -> Money:
        """Read a non-negative decimal string in the currency's major unit."""
        places = decimals(currency)
        if not isinstance(amount, str):
            raise MoneyError("must be a decimal string such as \"12.50\"")
        match = _AMOUNT.match(amount)
        if not match:
            raise MoneyError(f"{amount!r} is not a non-negative decimal amount")
        whole, fraction = match.group(1), match.group(2) or ""
        if len(fraction) > places:
            raise MoneyError(f"{currency} has {places} decimals; {amount!r} has {len(fraction)}")
        minor = int(whole) * 10**places + int(fraction.ljust(places, "0") or "0")
        if minor > MAX_MINOR:
            raise MoneyError(f"{amount!r} is too large an amount")
        return cls(minor, currency)

    def __str__(self) -> str:
        """The major-unit decimal string, with exactly the currency's decimals."""
        places = decimals(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, fraction = divmod(abs(self.minor), 10**places)
        return f"{sign}{whole}.{fraction:0{places}d}" if places else f"{sign}{whole}"
