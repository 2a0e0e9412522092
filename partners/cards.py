"""Card numbers: 16 digits, the last a Luhn check digit.

The check digit catches a mistyped digit or a swap of two neighbours at the
till before a lookup is made, so a typo is "invalid card number", never
someone else's card.
"""

from __future__ import annotations

import secrets

LENGTH = 16


def luhn_check_digit(payload: str) -> str:
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid_card_number(number: object) -> bool:
    return (
        isinstance(number, str)
        and len(number) == LENGTH
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def new_card_number(prefix: str = "7") -> str:
    """A random valid number; the caller retries on the rare collision."""
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(LENGTH - 1 - len(prefix)))
    return body + luhn_check_digit(body)
