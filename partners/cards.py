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


#: A partner's own loyalty number for a card (network.members.aliases): any text of this length.
MAX_ALIAS = 128
REFERENCE_ERROR = ("is neither a card number (16 digits with a Luhn check digit) nor a loyalty number of 1 to "
                   f"{MAX_ALIAS} characters")


def is_card_reference(reference: object) -> bool:
    """What an adapter may read as the member's card: a hub card number, or one the partner made an alias of.

    Which of the two it is, the hub decides when it books (a card first,
    then this partner's aliases): an adapter only refuses what can be
    neither, so a till that prints its own number needs no translation.
    """
    return isinstance(reference, str) and (is_valid_card_number(reference) or (
        0 < len(reference) <= MAX_ALIAS and reference == reference.strip()
        and reference.isprintable()))
