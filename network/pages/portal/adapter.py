"""The partner's adapter in the portal, `/portal/<slug>/adapter`: the format its transactions come in, and its settings.

The partner's own admins choose it, as PUT /v1/partners/<slug>/adapter lets
them (its staff do not), with the desk's very form and function
(`settings_forms`): the adapter's own schema checks the settings, each
refusal said by its field, the change audited and every worker reading the
partner afresh.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from network.api.partners import partner_view
from network.pages import settings_forms, signed_in
from network.pages.portal import ADMINS, blp, partner
from network.pages.settings_forms import Refused

FIELDS = ("adapter", "adapter_config")


@blp.route("/<slug>/adapter", methods=["GET"])
@signed_in.needs(ADMINS)
def adapter(slug: str):
    return _page(partner(slug), saved=request.args.get("saved") == "yes")


@blp.route("/<slug>/adapter", methods=["POST"])
@signed_in.needs(ADMINS)
def set_adapter(slug: str):
    shown = partner(slug)
    try:
        settings_forms.set_adapter(slug)
    except Refused as refused:
        return _page(shown, refused=refused, typed=settings_forms.sent(*FIELDS))
    return redirect(url_for("portal.adapter", slug=slug, saved="yes"))


def _page(shown, *, refused: Refused | None = None, typed: dict | None = None, saved: bool = False):
    settings = partner_view(shown)
    errors = refused.errors if refused else {}
    page = render_template("portal/adapter.html", partner=shown, settings=settings, adapters=settings_forms.adapters(),
                           typed={**settings_forms.adapter_typed(settings), **(typed or {})}, errors=errors,
                           listed=settings_forms.errors_under(errors, "adapter_config"),
                           refused=refused.message if refused else None, saved=saved)
    return page, refused.status if refused else 200
