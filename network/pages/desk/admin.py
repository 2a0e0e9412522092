"""Running the network from the desk (admins): its partners, its staff.

A partner is added as POST /v1/partners adds one (its schema, its checks,
its audited change), and its API key is shown on the page once, as the
API answers it once; a person is added with a one-time password shown
once, which they replace at their first sign-in.
"""

from __future__ import annotations

from flask import g, render_template, request
from marshmallow import ValidationError

from network.api.access import policy
from network.api.common import now, read
from network.api.partners import new_partner
from network.api.schemas import PartnerCreate
from network.errors import DomainError
from network.ledger.kinds import PartnerKind
from network.pages import signed_in
from network.pages.desk import MONEY, RUN, blp, forms
from network.parties import people, registry
from network.parties.roles import STAFF_ROLES

#: The partner form's fields, as PartnerCreate names them; a field left empty takes the API's default.
PARTNER_FIELDS = ("slug", "name", "timezone", "currency", "earn_rate", "pending_days", "kind")
#: How many partners the list shows.
LISTED = 500


def _partners(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    rows = read(lambda session: registry.listed(session, after=None, limit=LISTED))
    return render_template("desk/partners.html", partners=rows, errors=errors or {}, typed=typed or {},
                           kinds=list(PartnerKind), adds=g.principal.role in RUN), status


@blp.route("/partners", methods=["GET"])
@signed_in.needs(MONEY)  # finance reads them (and a partner's contract), as GET /v1/partners lets it; admins add
def partners():
    return _partners()


@blp.route("/partners", methods=["POST"])
@signed_in.needs(RUN)
def add_partner():
    typed = {name: (request.form.get(name) or "").strip() for name in PARTNER_FIELDS}
    given: dict = {name: value for name, value in typed.items() if value}
    if given.get("pending_days", "").isdigit():
        given["pending_days"] = int(given["pending_days"])
    try:
        args = PartnerCreate().load(given)
    except ValidationError as refused:
        return _partners(forms.invalid(refused), typed, 422)
    try:
        made = signed_in.write(new_partner(args))
    except DomainError as refused:
        field = next(iter(refused.details or {}), "slug")
        return _partners({field: forms.said(refused, field)}, typed, refused.status)
    return render_template("desk/partner_added.html", partner=made)


def _staff(errors: dict | None = None, typed: dict | None = None, status: int = 200):
    return render_template("desk/staff.html", people=read(people.staff), roles=STAFF_ROLES, errors=errors or {},
                           typed=typed or {}), status


@blp.route("/staff", methods=["GET"])
@signed_in.needs(RUN)
def staff():
    return _staff()


@blp.route("/staff", methods=["POST"])
@signed_in.needs(RUN)
def add_staff():
    typed = {"email": (request.form.get("email") or "").strip(), "role": request.form.get("role") or ""}
    if typed["role"] not in STAFF_ROLES:
        return _staff({"role": f"Choose one of {', '.join(STAFF_ROLES)}."}, typed, 422)
    settings, at = policy(), now()

    def work(session):
        return people.add(session, settings, at, email=typed["email"], role=typed["role"])

    try:
        person, password = signed_in.write(work, after={"email": typed["email"].lower(), "role": typed["role"]})
    except DomainError as refused:
        field = next(iter(refused.details or {}), "email")
        return _staff({field: forms.said(refused, field) if field != "email" else refused.message}, typed, refused.status)
    return render_template("desk/staff_added.html", person=person, password=password)
