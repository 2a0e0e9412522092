"""`coalition staff`: the operator's people, added, listed, disabled and given API tokens from the shell.

The shell is where the first admin comes from (with COALITION_ADMIN_TOKEN,
the bootstrap admin); every change made here is in the audit trail as
`cli (<os user>)`, in the change's own transaction.
"""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta, timezone

import click
from flask import current_app

from network.cli import _db, main, with_appcontext
from network.errors import DomainError
from network.parties import audit, credentials, people
from network.parties.roles import ADMIN, STAFF_ROLES


def hub_now() -> datetime:
    return current_app.config.get("CLOCK", lambda: datetime.now(timezone.utc))()


def shell_actor() -> audit.Actor:
    return audit.Actor(f"cli ({getpass.getuser()})", ADMIN)


def run_change(work):
    """Run a change in one transaction; a refusal (a bad address, a taken one) is a message, not a traceback."""
    try:
        return _db().transact(work)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message}: {exc.details}" if exc.details else exc.message) from None


@main.group("staff")
def staff() -> None:
    """The network operator's staff: admin, finance and support."""


@staff.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(STAFF_ROLES), required=True,
              help="admin: everything; finance: settlement and contracts; support: members and cards")
@with_appcontext
def staff_add(email: str, role: str) -> None:
    """Give a person a staff account, with a one-time password.

    The password is printed once; it must be replaced before the first
    sign-in (POST /v1/auth/password).
    """
    policy = people.Policy.from_config(current_app.config)

    def work(session):
        person, password = people.add(session, policy, hub_now(), email=email, role=role)
        audit.record(session, hub_now(), shell_actor(), "staff add", f"staff/{person.email}", after=person.as_json())
        return person, password

    person, password = run_change(work)
    click.echo(f"{person.email}: {person.role}")
    click.echo(f"password: {password}")
    click.echo("(one-time: replace it with POST /v1/auth/password before signing in)")


@staff.command("list")
@with_appcontext
def staff_list() -> None:
    """Every staff account, its role and its state."""
    for person in _db().read(people.staff):
        state = "disabled" if person.disabled_at else "one-time password" if person.must_change_password else "active"
        click.echo(f"{person.email}\t{person.role}\t{state}")


@staff.command("disable")
@click.argument("email")
@with_appcontext
def staff_disable(email: str) -> None:
    """Disable a staff account; its tokens stop at once."""

    def work(session):
        person = people.by_email(session, email)
        if person.partner_id is not None:
            raise DomainError(f"{person.email} is a partner's user, not staff")
        after = people.disable(session, person.id, hub_now())
        audit.record(session, hub_now(), shell_actor(), "staff disable", f"staff/{person.email}", before=person.as_json(),
                     after=after.as_json())
        return after

    click.echo(f"{run_change(work).email}: disabled")


@staff.command("token")
@click.argument("email")
@click.option("--name", required=True, help="what the token is for (a script, a laptop)")
@click.option("--expires", "days", type=click.IntRange(min=1), default=None, help="days until it expires (default: never)")
@with_appcontext
def staff_token(email: str, name: str, days: int | None) -> None:
    """Make a staff member a personal API token.

    Printed once, stored as a hash; revoke it with `coalition staff revoke`.
    """

    def work(session):
        person = people.by_email(session, email)
        if person.partner_id is not None or person.disabled_at is not None:
            raise DomainError(f"{person.email} is no active staff member")
        expires = hub_now() + timedelta(days=days) if days else None
        token, token_id = credentials.issue(session, hub_now(), kind=credentials.TOKEN, name=name[:100], user_id=person.id,
                                            expires_at=expires)
        audit.record(session, hub_now(), shell_actor(), "staff token", f"staff/{person.email}",
                     after={"id": token_id, "name": name[:100], "expires_at": expires.isoformat() if expires else None})
        return token, token_id

    token, token_id = run_change(work)
    click.echo(f"token {token_id}: {token}")


@staff.command("revoke")
@click.argument("email")
@click.argument("token_id", type=int)
@with_appcontext
def staff_revoke(email: str, token_id: int) -> None:
    """Revoke one of a staff member's tokens.

    TOKEN_ID is the id `coalition staff token` printed.
    """

    def work(session):
        person = people.by_email(session, email)
        if token_id not in {key.id for key in credentials.of_user(session, person.id)}:
            raise DomainError(f"{person.email} holds no token {token_id}")
        credentials.revoke(session, token_id, hub_now())
        audit.record(session, hub_now(), shell_actor(), "staff revoke", f"staff/{person.email}", after={"token": token_id})

    run_change(work)
    click.echo(f"token {token_id}: revoked")
