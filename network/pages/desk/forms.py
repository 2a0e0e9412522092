"""What the desk's forms share: a refusal or a validation said in words, next to the field it concerns.

The API answers a refusal with a message and, per field, what the field
must be (`details`); a form shows the same words beside the field, so the
desk and the API never word one rule two ways.
"""

from __future__ import annotations

from marshmallow import ValidationError

from network.errors import DomainError
from partners.errors import flatten_errors


def said(refused: DomainError, field: str) -> str:
    """The refusal's message, with what `field` must be when the refusal says it."""
    must = [str(item) for item in (refused.details or {}).get(field, [])]
    return f"{refused.message.rstrip('.')}: {'; '.join(must)}" if must else refused.message


def invalid(error: ValidationError) -> dict[str, str]:
    """A schema's refusal as one sentence per field."""
    return {name: "; ".join(str(message) for message in messages)
            for name, messages in flatten_errors(error.messages).items()}
