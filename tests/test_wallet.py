"""The member's wallet: in by a single-use link, the API's figures on the page, and the member's own writes.

Driven through the app's test client (a browser's view of the same pages is
tests/test_pages_in_a_browser.py): the cookie, the CSRF token and the
session's expiry are the app's own.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from network.models import AuditEvent, Card, WalletLink
from tests.support.hub import ADMIN_TOKEN, HubClient
from tests.support.ledger import snapshot
from tests.support.pages import csrf


def link(hub, member_id, key=None, **headers):
    made = hub.call("POST", f"/v1/members/{member_id}/wallet-links", key, headers=headers)
    assert made.status_code == 201, made.json
    return made.json


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="(\w+)">([^<]*)<', html))


def opened(client, url: str) -> str:
    answer = client.get(url)
    assert (answer.status_code, answer.headers["Location"]) == (302, "/wallet"), answer.get_data(as_text=True)
    page = client.get("/wallet")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_a_link_opens_the_wallet_once_and_it_shows_what_the_api_shows(hub, world, client, clock):
    for total in ("12.00", "7.50"):
        assert hub.sale(world.coffee, world.card, total).status_code == 201
    made = link(hub, world.member_id, world.coffee)
    assert made["url"].startswith("/wallet/open/") and made["expires_at"] == (clock.now + timedelta(minutes=15)).isoformat()
    html = opened(client, made["url"])
    balance = hub.call("GET", f"/v1/cards/{world.card}/balance", world.coffee).json
    shown = figures(html)
    assert (shown["available"], shown["pending"], shown["held"], shown["card"]) == (
        str(balance["available"]), str(balance["pending"]), str(balance["held"]), world.card)
    history = [entry["id"] for entry in hub.history(world.member_id)["items"]]
    assert [int(found) for found in re.findall(r'data-entry="(\d+)"', html)] == history  # newest first, as the API
    assert "Brew Bar" in html and "Sale" in html

    again = client.get(made["url"])
    assert again.status_code == 410 and "was used already" in again.get_data(as_text=True)


def test_an_expired_or_unknown_link_says_so_and_opens_nothing(hub, world, client, clock):
    made = link(hub, world.member_id)  # the operator may make one too
    clock.advance(minutes=16)
    late = client.get(made["url"])
    assert late.status_code == 410 and "has expired" in late.get_data(as_text=True)
    forged = client.get("/wallet/open/" + "x" * 43)
    assert forged.status_code == 410 and "not one the network gave out" in forged.get_data(as_text=True)
    assert client.get("/wallet").headers["Location"] == "/wallet/sign-in"


def test_only_the_enrolling_partner_may_open_a_members_wallet(hub, world, database):
    before = snapshot(database)
    refused = hub.call("POST", f"/v1/members/{world.member_id}/wallet-links", world.grocer)
    assert (refused.status_code, refused.json["error"]["code"]) == (404, "unknown_member")
    assert snapshot(database) == before


def test_a_replayed_link_request_does_not_show_the_link_again(hub, world, database):
    first = link(hub, world.member_id, world.coffee, **{"Idempotency-Key": "w-1"})
    replay = hub.call("POST", f"/v1/members/{world.member_id}/wallet-links", world.coffee, headers={"Idempotency-Key": "w-1"})
    assert replay.status_code == 201 and replay.json["url"] is None and replay.json["url_shown"] == "once"
    token = first["url"].rsplit("/", 1)[1]
    kept = database.read(lambda session: session.scalars(select(WalletLink.token_hash)).all())
    assert kept == [hashlib.sha256(token.encode()).hexdigest()]  # the hash, never the link itself


def test_the_session_ends_when_idle_and_at_sign_out(hub, world, client, clock, app):
    opened(client, link(hub, world.member_id, world.coffee)["url"])
    clock.advance(minutes=app.config["COALITION_SESSION_IDLE_MINUTES"] - 1)
    assert client.get("/wallet").status_code == 200  # still in, and the idle time starts again
    clock.advance(minutes=app.config["COALITION_SESSION_IDLE_MINUTES"] + 1)
    assert client.get("/wallet").headers["Location"] == "/wallet/sign-in"
    html = opened(client, link(hub, world.member_id, world.coffee)["url"])
    assert client.post("/wallet/sign-out", data={"csrf_token": csrf(html)}).status_code == 302
    assert client.get("/wallet").headers["Location"] == "/wallet/sign-in"


def test_the_session_has_an_absolute_end_however_busy(hub, world, client, clock, app):
    opened(client, link(hub, world.member_id, world.coffee)["url"])
    for _ in range(app.config["COALITION_SESSION_HOURS"] * 3 + 1):
        clock.advance(minutes=20)
        client.get("/wallet")
    assert client.get("/wallet").headers["Location"] == "/wallet/sign-in"


def test_a_lost_card_is_blocked_and_replaced_on_the_same_balance_and_audited(hub, world, client, database):
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201
    html = opened(client, link(hub, world.member_id, world.coffee)["url"])
    before = snapshot(database)
    refused = client.post("/wallet/card/replace")  # no CSRF token: a form another site made
    assert refused.status_code == 400 and "form" in refused.get_data(as_text=True).lower()
    assert snapshot(database) == before
    replaced = client.post("/wallet/card/replace", data={"csrf_token": csrf(html)})
    assert replaced.status_code == 200
    new = figures(replaced.get_data(as_text=True))["card"]
    assert new != world.card
    old = hub.call("GET", f"/v1/cards/{world.card}/balance", world.coffee)
    assert (old.status_code, old.json["error"]["code"]) == (422, "card_blocked")
    assert hub.call("GET", f"/v1/cards/{new}/balance", world.coffee).json["available"] == 10
    (event,) = database.read(lambda session: session.scalars(
        select(AuditEvent).where(AuditEvent.action == "POST /wallet/card/replace")).all())
    assert event.actor == f"member {world.member_id}" and event.role == "member" and world.card not in str(event.after)


def test_the_member_downloads_their_data(hub, world, client):
    opened(client, link(hub, world.member_id, world.coffee)["url"])
    answer = client.get("/wallet/export")
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    assert answer.json["profile"]["email"] == "ann@example.com"
    assert world.card in [card["number"] for card in answer.json["cards"]]


def test_deleting_the_account_needs_its_confirmation(hub, world, client, database):
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201
    html = opened(client, link(hub, world.member_id, world.coffee)["url"])
    before = snapshot(database)
    unconfirmed = client.post("/wallet/delete", data={"csrf_token": csrf(html)})
    assert unconfirmed.status_code == 422 and "nothing was deleted" in unconfirmed.get_data(as_text=True)
    assert snapshot(database) == before
    done = client.post("/wallet/delete", data={"csrf_token": csrf(html), "confirm": "yes"})
    assert done.status_code == 200 and "deleted" in done.get_data(as_text=True)
    gone = hub.call("GET", f"/v1/members/{world.member_id}")
    assert (gone.status_code, gone.json["error"]["code"]) == (410, "member_deleted")
    assert client.get("/wallet").headers["Location"] == "/wallet/sign-in"
    statuses = database.read(lambda session: set(session.scalars(select(Card.status).where(Card.member_id == world.member_id))))
    assert statuses == {"blocked"}


def test_every_page_forbids_inline_script_and_keeps_its_cookie_from_scripts(hub, world, client):
    answer = client.get(link(hub, world.member_id, world.coffee)["url"])
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http here: no Secure
    page = client.get("/wallet")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script" not in page.get_data(as_text=True) and "style=" not in page.get_data(as_text=True)
    assert client.get("/assets/site.css").status_code == 200


def test_behind_https_links_carry_the_public_address_and_cookies_are_secure(world, make_app):
    behind = HubClient(make_app(COALITION_PUBLIC_URL="https://hub.example.com").test_client(), ADMIN_TOKEN)
    made = link(behind, world.member_id, world.coffee)
    assert made["url"].startswith("https://hub.example.com/wallet/open/")
    answer = behind.client.get(made["url"].removeprefix("https://hub.example.com"))
    assert "Secure" in answer.headers["Set-Cookie"]


class Inbox:
    """A real SMTP server's handler (aiosmtpd): what the hub sent, as the recipient's mail server got it."""

    def __init__(self):
        self.mails: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        text = email.message_from_bytes(envelope.content, policy=email.policy.default).get_content()
        self.mails.append((envelope.rcpt_tos, text))
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    from tests.support.server import free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


def test_a_member_signs_in_by_email_and_the_page_tells_no_one_who_is_a_member(world, make_app, smtp, database):
    inbox, url = smtp
    app = make_app(COALITION_SMTP_URL=url, COALITION_PUBLIC_URL="https://hub.example.com")
    client = app.test_client()
    form = client.get("/wallet/sign-in").get_data(as_text=True)
    known = client.post("/wallet/sign-in", data={"csrf_token": csrf(form), "email": " Ann@Example.com "})
    unknown = client.post("/wallet/sign-in", data={"csrf_token": csrf(form), "email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    # Alike but for the address echoed and the form's token (signed with the second it was made in).
    said = [re.sub(r'<strong>[^<]*</strong>|name="csrf_token" value="[^"]+"', "", page.get_data(as_text=True))
            for page in (known, unknown)]
    assert said[0] == said[1]
    deadline = time.monotonic() + 10  # the hub sends on a thread of its own, so its answer takes no longer for a member
    while not inbox.mails and time.monotonic() < deadline:
        time.sleep(0.05)
    ((to, mail),) = inbox.mails
    assert to == ["Ann@Example.com"]
    (address,) = re.findall(r"https://hub\.example\.com(/wallet/mail/[\w-]+)", mail)
    scanned = app.test_client().get(address)  # a mail scanner fetches every link of a mail: it spends nothing
    assert scanned.status_code == 200 and client.get("/wallet").headers["Location"] == "/wallet/sign-in"
    page = client.get(address).get_data(as_text=True)
    action = re.search(r'form method="post" action="(/wallet/open/[\w-]+)"', page).group(1)
    assert client.post(action, data={"csrf_token": csrf(page)}).headers["Location"] == "/wallet"
    assert figures(client.get("/wallet").get_data(as_text=True))["card"] == world.card
    form = client.get("/wallet/sign-in").get_data(as_text=True)  # a new session: a new token
    bad = client.post("/wallet/sign-in", data={"csrf_token": csrf(form), "email": "not an address"})
    assert bad.status_code == 422 and "e-mail address" in bad.get_data(as_text=True)
    assert len(inbox.mails) == 1
