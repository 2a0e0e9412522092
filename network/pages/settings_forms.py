"""What the desk's and the portal's settings forms share: JSON typed into a text area, refusals by field, the adapter form.

A partner's adapter settings and earning rules are JSON documents, so a
person types them as JSON and the page hands the parsed document to the
API's own function, checked by the same schemas: the page and the API never
word one rule two ways. A text area is not a request body, so the text gate
the API runs before every view (control characters, nesting depth) is run
here on what was typed, with the gate's statuses. The adapter form is the
desk's and the portal's alike (`people/_adapter.html`); a secret setting is
shown masked, as the API shows it, and a masked value left as shown keeps
the secret stored now, so that saving a form never blanks a signing secret.
"""

from __future__ import annotations

import json

from flask import request
from marshmallow import ValidationError

from network.api.common import hub, read
from network.api.partners import MASKED, adapter_change, partner_view
from network.api.schemas import AdapterSet
from network.errors import DomainError
from network.pages import signed_in
from network.pages.desk.forms import said
from network.parties.registry import get_partner
from partners.errors import flatten_errors
from partners.text import MAX_DEPTH, REASON, TooDeep, has_control, screen


class Refused(Exception):
    """A form's refusal: what is wrong by field (`adapter_config.webhook_secret`), its summary and the API's status."""

    def __init__(self, errors: dict[str, str], status: int, message: str):
        super().__init__(message)
        self.errors, self.status, self.message = errors, status, message

    @classmethod
    def of(cls, refused: DomainError, field: str) -> Refused:
        """A domain refusal, said next to each field it names, one that names none next to `field`: a 422's details
        say what the field must be, another's (a 409's) what it held, so that one is said with its message."""
        details = refused.details or {}
        errors = {name: "; ".join(map(str, details[name])) if refused.status == 422 else said(refused, name)
                  for name in details}
        return cls(errors or {field: refused.message}, refused.status, refused.message)

    @classmethod
    def invalid(cls, error: ValidationError, message: str = "Some fields are not right") -> Refused:
        """A schema's refusal, as the API answers it: 422, each field with its words."""
        return cls({name: "; ".join(map(str, words)) for name, words in flatten_errors(error.messages).items()}, 422,
                   message)


def typed(*names: str) -> dict[str, str]:
    """The form's text fields, trimmed; a control character refused next to its field (422), as the API's gate does."""
    given = {name: (request.form.get(name) or "").strip() for name in names}
    bad = {name: REASON for name, text in given.items() if has_control(text)}
    if bad:
        raise Refused(bad, 422, "Some fields contain a control character")
    return given


def json_text(text: str, field: str):
    """The JSON document typed into the text area `field`, screened as the API's gate screens a body."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise Refused({field: f"is nested deeper than {MAX_DEPTH} levels"}, 400, "This is nested too deep") from None
    except ValueError as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise Refused({field: f"is not JSON: {getattr(error, 'msg', error)}{where}"}, 400, "This is not JSON") from None
    try:
        found = screen(document)
    except TooDeep:
        raise Refused({field: f"is nested deeper than {MAX_DEPTH} levels"}, 400, "This is nested too deep") from None
    if found:
        raise Refused({(f"{field}.{path}" if path != "_schema" else field): "; ".join(words) for path, words in found.items()},
                      422, "Some fields contain a control character")
    return document


def errors_under(errors: dict[str, str], field: str) -> list[tuple[str, str]]:
    """The errors of a JSON field and of everything in it (`rules`, `rules.1.rate`), for the list beside its text area."""
    return [(name, words) for name, words in errors.items() if name == field or name.startswith(field + ".")]


# ---------------------------------------------------------------- the adapter form


def adapters() -> list[dict]:
    """The installed adapters, each with the settings its schema takes, for the form's choice and its help."""
    listed = []
    for name, adapter in sorted(hub().adapters.items()):
        schema = adapter.config_schema
        settings = [] if schema is None else [
            {"name": key, "required": field.required, "says": field.metadata.get("description", "")}
            for key, field in schema().fields.items()]
        listed.append({"name": name, "settings": settings, "signed": bool(getattr(adapter, "signed", False))})
    return listed


def adapter_typed(shown: dict) -> dict[str, str]:
    """The form as it opens: the partner's adapter and its settings as the API shows them (secrets masked)."""
    return {"adapter": shown["adapter"], "adapter_config": json.dumps(shown["adapter_config"], indent=2, ensure_ascii=False)}


def set_adapter(slug: str) -> None:
    """Save the posted adapter form through the API's own `adapter_change` (its checks, its audit, the settings
    version raised); `Refused` by field otherwise."""
    given = {**typed("adapter"), "adapter_config": request.form.get("adapter_config") or ""}
    config = json_text(given["adapter_config"], "adapter_config") if given["adapter_config"].strip() else {}
    try:
        args = AdapterSet().load({"adapter": given["adapter"], "adapter_config": config})
    except ValidationError as error:
        raise Refused.invalid(error, "The adapter settings are invalid") from None
    try:
        signed_in.write(adapter_change(slug, args["adapter"], _secrets_kept(slug, args["adapter"], args["adapter_config"])))
    except DomainError as refused:
        raise Refused.of(refused, "adapter") from None


def sent(*names: str) -> dict[str, str]:
    """What a refused form held, to show it again as it was typed."""
    return {name: request.form.get(name) or "" for name in names}


def _secrets_kept(slug: str, adapter: str, config: dict) -> dict:
    """A setting the API masks, left as the page showed it (`********`) with the adapter unchanged, keeps its value."""
    if MASKED not in config.values():
        return config
    stored = read(lambda session: get_partner(session, slug))
    if stored.adapter != adapter:
        return config
    shown = partner_view(stored)["adapter_config"]
    return {key: stored.adapter_config[key] if value == MASKED and shown.get(key) == MASKED and key in stored.adapter_config
            else value for key, value in config.items()}
