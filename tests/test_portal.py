"""The partner's portal through the test client: its figures are the ledger's and the API's, its writes the API's.

Each write on a page is held to what the API's own call does (a key that
works, a catalogue the API reads, a batch booked the same way), each refusal
to its status and to `snapshot(db) == before`, and another partner's pages
to a 404 that changes nothing.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from network.errors import Conflict, NotFound
from network.events import replay, webhooks
from network.models import AuditEvent, Credential, Delivery, Event
from network.parties import auth
from network.parties.registry import get_partner
from tests.support import webhooks as hooks
from tests.support.hub import ADMIN_TOKEN, HubClient, World, order_id
from tests.support.ledger import snapshot
from tests.support.pages import csrf, signed_in
from tests.support.portal import as_csv, end_of_day, figure, figures, marked
from tests.support.webhooks import deliver

receiver = hooks.receiver  # the fixture: real HTTP servers on 127.0.0.1


def at(clock, *parts: int) -> None:
    clock.now = datetime(*parts, tzinfo=timezone.utc)


def token(client, path: str) -> str:
    return csrf(client.get(path).get_data(as_text=True))


def post(client, path: str, data: dict | None = None, form: str | None = None, **kwargs):
    """A form sent as a browser sends it, with the CSRF token of the page it is on (`form`; default: `path`)."""
    return client.post(path, data={**(data or {}), "csrf_token": token(client, form or path)}, **kwargs)


def partner_id(database, slug: str) -> int:
    return database.read(lambda session: get_partner(session, slug).id)


# ---------------------------------------------------------------- today


def test_today_and_the_period_are_the_ledgers_and_the_apis_figures_in_the_partners_own_day(app, hub, clock, database):
    at(clock, 2026, 3, 13, 9, 0)
    world = World.build(hub)  # Brew Bar is in Paris (UTC+1 in March)
    assert hub.sale(world.coffee, world.card, "20.00", occurred_at=clock.now.isoformat()).json["points"] == 20  # before the statement's end
    at(clock, 2026, 3, 13, 20, 0)
    assert hub.call("POST", "/v1/settlement/runs", json={"end": "2026-03-13T12:00:00+00:00"}).status_code == 201
    at(clock, 2026, 3, 13, 22, 0)  # 23:00 in Paris: the period, not today
    yesterday = hub.sale(world.coffee, world.card, "5.00", occurred_at=clock.now.isoformat()).json["points"]
    at(clock, 2026, 3, 13, 23, 30)  # 00:30 on the 14th in Paris: today, though not yet in UTC
    after_midnight = hub.sale(world.coffee, world.card, "12.00", occurred_at=clock.now.isoformat()).json["points"]
    at(clock, 2026, 3, 14, 9, 30)
    morning = hub.sale(world.coffee, world.card, "7.50", occurred_at=clock.now.isoformat()).json["points"]
    assert hub.sale(world.grocer, world.card, "30.00", occurred_at=clock.now.isoformat()).status_code == 201  # another partner's: not counted
    hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee, json={"sku": "MUG", "name": "A mug", "points": 10})
    hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee, json={"sku": "CUP", "name": "A cup", "points": 2})
    taken = [hub.call("POST", "/v1/redemptions", world.coffee, json={"card_number": world.card, "sku": sku,
                                                                     "order_id": order_id("X")}).json["points"]
             for sku in ("MUG", "CUP", "CUP")]
    by_points = hub.redeem(world.coffee, world.card, 3).json["points"]
    hub.enrol(world.coffee)  # enrolled today

    page = signed_in(app, "boss@brew.example", "partner_staff", "brew-bar").get("/portal/brew-bar").get_data(as_text=True)
    assert (figure(page, "today-earned-count"), figure(page, "today-earned-points")) == ("2", str(after_midnight + morning))
    assert (figure(page, "period-earned-count"), figure(page, "period-earned-points")) == (
        "3", str(yesterday + after_midnight + morning))
    assert figure(page, "today-redeemed-count") == figure(page, "period-redeemed-count") == "4"
    assert figure(page, "today-redeemed-points") == figure(page, "period-redeemed-points") == str(sum(taken) + by_points) == "17"
    assert (figure(page, "today-enrolled"), figure(page, "period-enrolled"), figure(page, "enrolled-ever")) == ("1", "1", "2")
    assert marked(page, "reward") == ["CUP", "MUG"] and figures(page, "units") == ["2", "1"]
    # The ledger says the same: what the member holds is what Brew Bar issued less what was spent.
    assert hub.balance(world.card)["available"] == 20 + yesterday + after_midnight + morning + 60 - 17


def test_an_order_is_found_by_its_id_with_a_masked_card_and_never_the_members_personal_data(app, world, database):
    sale = world.hub.sale(world.coffee, world.card, "12.00", order="ORD-77")
    assert sale.status_code == 201
    world.hub.refund(world.coffee, "ORD-77", "6.00", order="ORD-77")
    for client in (signed_in(app, "till@brew.example", "partner_staff", "brew-bar"), signed_in(app, "ops@hub.example", "admin")):
        found = post(client, "/portal/brew-bar/orders", {"order_id": "ORD-77"}, form="/portal/brew-bar")
        page = found.get_data(as_text=True)
        assert found.status_code == 200
        assert marked(page, "order") == ["sale", "refund"]
        assert figures(page, "points") == [str(sale.json["points"]), "-6"]
        assert figures(page, "card") == ["*" * 12 + world.card[-4:]] * 2
        assert world.card not in page and "ann@example.com" not in page and "Ann" not in page
        assert world.member_id not in page
    client = signed_in(app, "other@brew.example", "partner_admin", "brew-bar")
    missing = post(client, "/portal/brew-bar/orders", {"order_id": "NOPE-1"}, form="/portal/brew-bar")
    assert missing.status_code == 404 and "No such order: NOPE-1." in missing.get_data(as_text=True)
    too_long = post(client, "/portal/brew-bar/orders", {"order_id": "x" * 256}, form="/portal/brew-bar")
    assert too_long.status_code == 422 and "1 to 255 characters" in too_long.get_data(as_text=True)
    # A grocer's order with the same id is the grocer's own, never shown to Brew Bar.
    world.hub.sale(world.grocer, world.card, "3.00", order="G-1")
    assert post(client, "/portal/brew-bar/orders", {"order_id": "G-1"}, form="/portal/brew-bar").status_code == 404


# ---------------------------------------------------------------- upload


def test_a_partner_user_uploads_the_end_of_day_file_and_a_second_upload_books_nothing(app, world, database, clock):
    as_csv(world.hub, "brew-bar")
    bob_id, bob = world.hub.enrol(world.coffee)
    client = signed_in(app, "till@brew.example", "partner_admin", "brew-bar")
    file = end_of_day(world.card, bob)
    sent = post(client, "/portal/brew-bar/upload", {"file": (io.BytesIO(file), "eod.csv")}, content_type="multipart/form-data")
    page = sent.get_data(as_text=True)
    assert sent.status_code == 200, page
    assert (figure(page, "accepted"), figure(page, "points"), figure(page, "duplicates"), figure(page, "rejected")) == (
        "3", "15", "0", "2")
    assert marked(page, "row") == ["4", "5"] and marked(page, "code") == ["unknown_order", "unknown_card"]
    assert "card_number" in page.split('data-row="5"')[1]  # the reason, by its field
    # As the API's batch books it: 12.50 earned 12, 4.20 of it clawed back 4; 3.05 earned 3.
    assert world.hub.balance(world.card)["available"] == 12 - 4
    assert world.hub.balance(bob)["available"] == 3
    actions = database.read(lambda session: session.execute(select(AuditEvent.action, AuditEvent.actor)
                                                             .order_by(AuditEvent.id.desc()).limit(2)).all())
    assert {action for action, _ in actions} == {"POST /portal/<slug>/upload"}
    assert {actor for _, actor in actions} == {"till@brew.example"}
    booked = snapshot(database)
    again = post(client, "/portal/brew-bar/upload", {"file": (io.BytesIO(file), "eod.csv")}, content_type="multipart/form-data")
    page = again.get_data(as_text=True)
    assert (figure(page, "accepted"), figure(page, "duplicates"), figure(page, "rejected")) == ("0", "3", "2")
    assert snapshot(database)["balances"] == booked["balances"]
    assert {name: count for name, count in snapshot(database)["counts"].items() if name != "audit_events"} == {
        name: count for name, count in booked["counts"].items() if name != "audit_events"}


def test_a_partner_whose_adapter_reads_no_files_is_told_how_it_sends_and_a_file_is_refused(app, world, database):
    client = signed_in(app, "till@grocer.example", "partner_admin", "green-grocer")
    page = client.get("/portal/green-grocer/upload").get_data(as_text=True)
    assert "reads no files" in figure(page, "no-files") and "POST /v1/transactions" in page
    assert 'type="file"' not in page
    before = snapshot(database)
    refused = post(client, "/portal/green-grocer/upload", {"file": (io.BytesIO(b"a,b\n"), "x.csv")},
                   content_type="multipart/form-data")
    assert refused.status_code == 415 and "reads no files" in refused.get_data(as_text=True)
    assert snapshot(database) == before


def test_a_file_over_the_limit_is_a_413_said_on_the_page_and_books_nothing(make_app, database):
    app = make_app(COALITION_MAX_BATCH_BYTES=300)
    world = World.build(HubClient(app.test_client(), ADMIN_TOKEN))
    as_csv(world.hub, "brew-bar")
    client = signed_in(app, "till@brew.example", "partner_admin", "brew-bar")
    before = snapshot(database)
    over = end_of_day(world.card, world.card) + b"EOD-6,sale," + world.card.encode() + b",2026-03-14T10:00:00,EUR,1.00,\n" * 3
    refused = post(client, "/portal/brew-bar/upload", {"file": (io.BytesIO(over), "eod.csv")}, content_type="multipart/form-data")
    assert refused.status_code == 413 and "larger than this hub takes (300 bytes)" in refused.get_data(as_text=True)
    huge = post(client, "/portal/brew-bar/upload", {"file": (io.BytesIO(b"x" * 70_000), "eod.csv")},
                content_type="multipart/form-data")
    assert huge.status_code == 413 and "larger than this hub takes" in huge.get_data(as_text=True)
    empty = post(client, "/portal/brew-bar/upload", {}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "Choose the file" in empty.get_data(as_text=True)
    assert snapshot(database) == before


# ---------------------------------------------------------------- who sees what


def portal_requests(app, slug: str) -> list[tuple[str, str, dict]]:
    """Every portal page of `slug` (method, path, form): each route of the URL map, with plausible values."""
    values = {"slug": slug, "sequence": 1, "key_id": 1, "delivery_id": 1, "sku": "MUG"}
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/portal/<slug>"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            form = {"order_id": "S-1", "name": "x", "url": "https://hooks.example/x", "secret": "s" * 20, "sku": "NEW",
                    "points": "5", "file": (io.BytesIO(b"order_id,type,points\n"), "x.csv"),
                    "records": (io.BytesIO(b"order_id,type,points\n"), "x.csv")} if method == "POST" else {}
            found.append((method, path, form))
    return found


def test_another_partners_portal_pages_are_404_to_a_partner_user_and_change_nothing(app, world, database):
    world.hub.call("POST", "/v1/partners/green-grocer/rewards", world.grocer, json={"sku": "MUG", "name": "A mug", "points": 5})
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    form_token = token(client, "/portal/brew-bar")
    before = snapshot(database)
    seen = []
    for slug in ("green-grocer", "no-such-partner"):
        for method, path, form in portal_requests(app, slug):
            answer = client.open(path, method=method, data={**form, "csrf_token": form_token},
                                 content_type="multipart/form-data" if method == "POST" else None)
            seen.append((method, path, answer.status_code))
    assert len(seen) == 2 * 25 and {status for _, _, status in seen} == {404}, [s for s in seen if s[2] != 404]
    assert snapshot(database) == before


def test_a_partners_staff_open_what_their_role_reads_on_the_api_and_no_more(app, world, database):
    staff = signed_in(app, "till@brew.example", "partner_staff", "brew-bar")
    page = staff.get("/portal/brew-bar").get_data(as_text=True)
    menu = re.findall(r'class="link[^"]*" href="([^"]+)"', page)
    assert menu == ["/portal/brew-bar", "/portal/brew-bar/rewards", "/portal/brew-bar/settlement",
                    "/portal/brew-bar/analytics"]
    statements = staff.get("/portal/brew-bar/settlement")  # the statements they read on the API too, but no upload
    assert statements.status_code == 200 and "Reconcile" not in statements.get_data(as_text=True)
    for path in ("/portal/brew-bar/keys", "/portal/brew-bar/webhook", "/portal/brew-bar/upload",
                 "/portal/brew-bar/keys/1/revoke", "/portal/brew-bar/rewards/MUG"):
        answer = staff.get(path)
        assert answer.status_code == 403 and "Not for your role" in answer.get_data(as_text=True), path
    before = snapshot(database)
    for path, form in (("/portal/brew-bar/keys", {"name": "mine"}), ("/portal/brew-bar/webhook/test", {}),
                       ("/portal/brew-bar/rewards", {"sku": "MUG", "name": "A mug", "points": "5"}),
                       ("/portal/brew-bar/settlement/1/reconciliation", {})):
        assert post(staff, path, form, form="/portal/brew-bar").status_code == 403, path
    upload = post(staff, "/portal/brew-bar/upload", {"file": (io.BytesIO(b"order_id,type\n"), "eod.csv")},
                  form="/portal/brew-bar", content_type="multipart/form-data")
    assert upload.status_code == 403  # a file books sales: the API's batch takes a partner's admins and keys only
    assert snapshot(database) == before
    assert 'action="/portal/brew-bar/rewards"' not in staff.get("/portal/brew-bar/rewards").get_data(as_text=True)
    admin = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar").get("/portal/brew-bar").get_data(as_text=True)
    assert re.findall(r'class="link[^"]*" href="([^"]+)"', admin)[3:] == [
        "/portal/brew-bar/webhook", "/portal/brew-bar/adapter", "/portal/brew-bar/keys", "/portal/brew-bar/settlement",
        "/portal/brew-bar/analytics"]


def test_a_form_without_its_csrf_token_is_400_and_changes_nothing(app, world, database):
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    before = snapshot(database)
    for path, form in (("/portal/brew-bar/keys", {"name": "mine"}), ("/portal/brew-bar/webhook/test", {}),
                       ("/portal/brew-bar/rewards", {"sku": "MUG", "name": "A mug", "points": "5"}),
                       ("/portal/brew-bar/webhook", {"url": "https://hooks.example/x", "secret": "s" * 20})):
        refused = client.post(path, data=form)
        assert refused.status_code == 400 and "could not be sent" in refused.get_data(as_text=True), path
    assert snapshot(database) == before


# ---------------------------------------------------------------- keys


def test_a_key_made_on_the_page_works_on_the_api_is_shown_once_and_stops_when_revoked(app, world, database):
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    empty = post(client, "/portal/brew-bar/keys", {"name": "  "})
    assert empty.status_code == 422 and "1 to 100 characters" in empty.get_data(as_text=True)
    made = post(client, "/portal/brew-bar/keys", {"name": "tills, store 4"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    key = figure(made.get_data(as_text=True), "key")
    assert key.startswith("coal_pk_")
    assert world.hub.balance(world.card, key)["available"] == 0  # it works on the API
    assert world.hub.sale(key, world.card, "4.00").status_code == 201
    listed = client.get("/portal/brew-bar/keys").get_data(as_text=True)
    assert key not in listed and "tills, store 4" in listed  # never shown again
    stored = database.read(lambda session: session.scalars(select(AuditEvent.after).where(
        AuditEvent.action == "POST /portal/<slug>/keys")).all())
    assert len(stored) == 1 and key not in str(stored)
    key_id = database.read(lambda session: session.scalar(select(Credential.id).where(Credential.name == "tills, store 4")))
    confirm = client.get(f"/portal/brew-bar/keys/{key_id}/revoke")
    assert "stops working at once" in confirm.get_data(as_text=True)
    revoked = post(client, f"/portal/brew-bar/keys/{key_id}/revoke", form=f"/portal/brew-bar/keys/{key_id}/revoke")
    assert revoked.status_code == 302
    assert world.hub.call("GET", f"/v1/cards/{world.card}/balance", key).status_code == 401
    grocer_key = database.read(lambda session: session.scalar(select(Credential.id).where(
        Credential.partner_id == get_partner(session, "green-grocer").id)))
    before = snapshot(database)
    other = post(client, f"/portal/brew-bar/keys/{grocer_key}/revoke", form="/portal/brew-bar/keys")
    assert other.status_code == 404 and world.hub.balance(world.card, world.grocer)  # the grocer's key still works
    assert snapshot(database) == before


# ---------------------------------------------------------------- webhook


def test_the_test_event_goes_to_this_partners_outbox_only_and_a_failed_delivery_is_made_due_again(
        app, world, database, clock, receiver):
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    before = snapshot(database)
    none_yet = post(client, "/portal/brew-bar/webhook/test", form="/portal/brew-bar/webhook")
    assert none_yet.status_code == 404 and "no webhook" in none_yet.get_data(as_text=True)
    short = post(client, "/portal/brew-bar/webhook", {"url": "https://hooks.example/x", "secret": "short"})
    assert short.status_code == 422 and "16 to 200 characters" in short.get_data(as_text=True)
    assert snapshot(database) == before
    server = receiver(["500", "200"])
    saved = post(client, "/portal/brew-bar/webhook", {"url": server.url, "secret": hooks.SECRET})
    assert saved.status_code == 302
    assert world.hub.call("GET", "/v1/partners/brew-bar/webhook", world.coffee).json["url"] == server.url
    assert post(client, "/portal/brew-bar/webhook/test", form="/portal/brew-bar/webhook").status_code == 302
    sent = database.read(lambda session: session.execute(select(Event.kind, Event.partner_id, Event.member_id)).all())
    assert sent == [("webhook_test", partner_id(database, "brew-bar"), None)]

    assert deliver(app, clock, COALITION_WEBHOOK_MAX_ATTEMPTS=1).failed == 1
    page = client.get("/portal/brew-bar/webhook").get_data(as_text=True)
    (delivery_id,) = map(int, marked(page, "delivery"))
    assert marked(page, "status") == ["failed"] and "HTTP 500" in page and "Retry delivery" in page
    clock.advance(minutes=5)
    retried = post(client, f"/portal/brew-bar/webhook/deliveries/{delivery_id}/retry", form="/portal/brew-bar/webhook")
    assert retried.status_code == 302
    due = database.read(lambda session: session.get(Delivery, delivery_id))
    assert (due.status, due.next_attempt_at, due.attempts) == ("pending", clock.now, 0)  # a fresh set of tries
    again = post(client, f"/portal/brew-bar/webhook/deliveries/{delivery_id}/retry", form="/portal/brew-bar/webhook")
    assert again.status_code == 409 and "only a failed one" in again.get_data(as_text=True)
    assert deliver(app, clock, COALITION_WEBHOOK_MAX_ATTEMPTS=1).delivered == 1
    assert server.requests[-1]["verified"] and b'"type":"webhook_test"' in server.requests[-1]["body"]
    assert post(client, "/portal/brew-bar/webhook/deliveries/99999/retry", form="/portal/brew-bar/webhook").status_code == 404


def test_retry_is_this_partners_own_failed_delivery_only(app, world, database, clock, receiver):
    server = receiver(["500"])
    hooks.register(world.hub, "brew-bar", server.url, world.coffee)
    brew, grocer = partner_id(database, "brew-bar"), partner_id(database, "green-grocer")
    database.transact(lambda session: webhooks.send_test(session, brew, "brew-bar", now=clock.now))
    deliver(app, clock, COALITION_WEBHOOK_MAX_ATTEMPTS=1)
    (failed,) = database.read(lambda session: session.scalars(select(Delivery.id)).all())
    before = snapshot(database)
    with pytest.raises(NotFound):
        database.transact(lambda session: replay.retry(session, grocer, failed, now=clock.now))
    assert snapshot(database) == before and database.read(lambda session: session.get(Delivery, failed).status) == "failed"
    later = clock.now + timedelta(seconds=1)
    database.transact(lambda session: replay.retry(session, brew, failed, now=later))
    due = database.read(lambda session: session.get(Delivery, failed))
    assert (due.status, due.next_attempt_at) == ("pending", later)
    with pytest.raises(Conflict):
        database.transact(lambda session: replay.retry(session, brew, failed, now=later))


def test_the_webhook_page_shows_the_adapter_and_its_settings_masked(app, world):
    world.hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "square", "adapter_config": {
        "signature_key": "sq-very-secret-key", "notification_url": "https://hub.example/v1/inbound/brew-bar"}})
    page = signed_in(app, "ops@hub.example", "admin").get("/portal/brew-bar/webhook").get_data(as_text=True)
    assert figure(page, "adapter") == "square"
    assert "sq-very-secret-key" not in page and "********" in page


# ---------------------------------------------------------------- rewards


def test_a_partner_admin_keeps_the_catalogue_the_api_reads_and_a_refusal_changes_nothing(app, world, database):
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    version = database.read(auth.settings_version)
    added = post(client, "/portal/brew-bar/rewards", {"sku": "MUG", "name": "A mug", "points": "120", "stock": "",
                                                      "per_member_limit": "2"})
    assert added.status_code == 302
    assert world.hub.call("GET", "/v1/partners/brew-bar/rewards", world.grocer).json["rewards"] == [
        {"sku": "MUG", "name": "A mug", "points": 120, "stock": None, "per_member_limit": 2, "active": True}]
    assert database.read(auth.settings_version) == version + 1  # every worker reads the catalogues afresh
    before = snapshot(database)
    bad = post(client, "/portal/brew-bar/rewards", {"sku": "CUP", "name": "A cup", "points": "lots"})
    assert bad.status_code == 422 and re.search(r'id="points-error">Give a whole number', bad.get_data(as_text=True))
    again = post(client, "/portal/brew-bar/rewards", {"sku": "MUG", "name": "Another", "points": "5"})
    assert again.status_code == 409 and "already has a reward" in again.get_data(as_text=True)
    assert snapshot(database) == before
    changed = post(client, "/portal/brew-bar/rewards/MUG", {"name": "A big mug", "points": "150", "stock": "10",
                                                           "per_member_limit": ""}, form="/portal/brew-bar/rewards/MUG")
    assert changed.status_code == 302
    assert world.hub.call("GET", "/v1/partners/brew-bar/rewards", world.grocer, query_string={"retired": "true"}).json[
        "rewards"] == [{"sku": "MUG", "name": "A big mug", "points": 150, "stock": 10, "per_member_limit": None, "active": False}]
    staff = signed_in(app, "till@brew.example", "partner_staff", "brew-bar").get("/portal/brew-bar/rewards")
    assert figures(staff.get_data(as_text=True), "points") == ["150"]


# ---------------------------------------------------------------- settlement


def test_the_section_download_is_the_apis_bytes_and_reconciliation_says_what_matched(app, world, database, clock):
    sold = world.hub.sale(world.coffee, world.card, "12.00", order="A-1").json["points"]
    world.hub.sale(world.coffee, world.card, "8.00", order="A-2")
    world.hub.redeem(world.coffee, world.card, 5, order="B-1")
    clock.advance(hours=2)
    end = (clock.now - timedelta(hours=1)).isoformat()
    sequence = world.hub.call("POST", "/v1/settlement/runs", json={"end": end}).json["statement"]["sequence"]
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    page = client.get("/portal/brew-bar/settlement").get_data(as_text=True)
    assert marked(page, "statement") == [str(sequence)]
    assert "coalition settlement verify brew-bar-N.json --keys keys.json" in figure(page, "verify")
    download = client.get(f"/portal/brew-bar/settlement/{sequence}/section.json")
    api = world.hub.call("GET", f"/v1/settlement/statements/{sequence}/partners/brew-bar", world.coffee)
    assert download.status_code == 200 and download.data == api.data
    assert download.headers["Content-Disposition"] == f'attachment; filename="brew-bar-{sequence}.json"'

    records = f"order_id,type,points\nA-1,sale,{sold}\nA-2,sale,999\nZ-9,sale,4\nB-1,redemption,x\n".encode()
    before = snapshot(database)
    shown = post(client, f"/portal/brew-bar/settlement/{sequence}/reconciliation",
                 {"records": (io.BytesIO(records), "ours.csv")}, form="/portal/brew-bar/settlement",
                 content_type="multipart/form-data")
    result = world.hub.call("POST", f"/v1/settlement/statements/{sequence}/reconciliation", world.coffee, data=records,
                            content_type="text/csv").json
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert (figure(page, "matched"), figure(page, "missing-at-hub"), figure(page, "missing-at-partner"),
            figure(page, "mismatched"), figure(page, "rejected")) == ("1", "1", "1", "1", "1")
    assert [result[name]["count"] for name in ("matched", "missing_at_hub", "missing_at_partner", "mismatched")] == [1, 1, 1, 1]
    assert result["rejected_total"] == 1
    assert "A-2" in page.split('data-list="mismatched"')[1] and "Z-9" in page.split('data-list="missing-at-hub"')[1]
    assert "B-1" in page.split('data-list="missing-at-partner"')[1] and 'data-row="4"' in page
    assert snapshot(database)["counts"] == before["counts"]
    bad = post(client, f"/portal/brew-bar/settlement/{sequence}/reconciliation",
               {"records": (io.BytesIO(b"what,ever\n1,2\n"), "ours.csv")}, form="/portal/brew-bar/settlement",
               content_type="multipart/form-data")
    assert bad.status_code == 400 and "error" in bad.get_data(as_text=True)


def test_a_partners_admin_disputes_lines_and_reads_how_finance_ended_them(app, world, database, clock):
    world.hub.sale(world.coffee, world.card, "12.00", order="A-1")
    clock.advance(hours=2)
    end = (clock.now - timedelta(hours=1)).isoformat()
    sequence = world.hub.call("POST", "/v1/settlement/runs", json={"end": end}).json["statement"]["sequence"]
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    form = "/portal/brew-bar/settlement"
    before = snapshot(database)
    refused = post(client, f"/portal/brew-bar/settlement/{sequence}/disputes",
                   {"order_ids": "A-1\nNOT-OURS", "reason": "a test"}, form=form)
    assert refused.status_code == 422 and "NOT-OURS" in refused.get_data(as_text=True)
    empty = post(client, f"/portal/brew-bar/settlement/{sequence}/disputes", {"order_ids": "", "reason": ""}, form=form)
    assert empty.status_code == 422 and "not complete" in empty.get_data(as_text=True)
    assert snapshot(database)["counts"]["disputes"] == before["counts"]["disputes"] == 0
    filed = post(client, f"/portal/brew-bar/settlement/{sequence}/disputes",
                 {"order_ids": "A-1", "reason": "Our till's test sale"}, form=form)
    assert filed.status_code == 303
    (dispute,) = world.hub.call("GET", f"/v1/settlement/statements/{sequence}/disputes").json["items"]
    assert (dispute["partner"], dispute["order_ids"], dispute["status"]) == ("brew-bar", ["A-1"], "open")
    world.hub.call("POST", f"/v1/settlement/disputes/{dispute['id']}/resolution",
                   json={"outcome": "adjusted", "amount": "0.10", "note": "Fee refunded"})
    page = client.get(filed.headers["Location"]).get_data(as_text=True)
    assert marked(page, "disputed") == [str(sequence)]
    assert marked(page, "status") == ["adjusted"] and "Fee refunded" in page and "0.10" in page
    # Staff read the disputes but file none.
    staff = signed_in(app, "till@brew.example", "partner_staff", "brew-bar")
    assert "Dispute these lines" not in staff.get(form).get_data(as_text=True)
    assert post(staff, f"/portal/brew-bar/settlement/{sequence}/disputes", {"order_ids": "A-1", "reason": "x"},
                form=form).status_code == 403
