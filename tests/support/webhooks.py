"""Webhook receivers as a test runs them: real HTTP servers on 127.0.0.1, and the calls that register and deliver to them."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from network.config import plugin_settings
from network.events import deliverer, webhooks
from network.models import Delivery, DeliveryAttempt

SECRET = "whsec_brew_bar_0123456789"


class Receiver:
    """A partner's endpoint: answers from `script` (then 200), and checks every signature it gets as a partner would."""

    def __init__(self, clock, script=()):
        self.script = list(script)
        self.requests: list[dict] = []
        self.release = threading.Event()
        self.clock = clock
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({
                    "body": body, "host": self.headers["Host"], "path": self.path, "event_id": self.headers["Coalition-Event-Id"],
                    "signature": self.headers["Coalition-Signature"],
                    "verified": webhooks.verify_signature(SECRET, self.headers["Coalition-Signature"], body,
                                                          now=receiver.clock.now.timestamp()),
                })
                action = receiver.script.pop(0) if receiver.script else "200"
                if action == "hang":
                    receiver.release.wait(5)  # far past the client's timeout; released when the test ends
                    return
                self.send_response(int(action))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/coalition"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app, clock):
    """Makes receivers on 127.0.0.1, so registration must allow private networks (as a test rig's hub does)."""
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True
    made = []

    def make(script=()):
        made.append(Receiver(clock, script))
        return made[-1]

    yield make
    for one in made:
        one.close()


def settings(app, **overrides):
    base = plugin_settings(app.config)
    # The test's receiving server listens on 127.0.0.1: a private address a production hub refuses.
    # No jitter: a test reads each retry's time to the second.
    return {**base, "COALITION_WEBHOOK_TIMEOUT_SECONDS": 0.2, "COALITION_WEBHOOK_PRIVATE_NETWORKS": True,
            "COALITION_WEBHOOK_BACKOFF_JITTER": 0, **overrides}


def deliver(app, clock, **overrides):
    hub = app.extensions["coalition"]
    return deliverer.deliver(hub.db, hub.plugins, settings(app, **overrides), clock)


def attempts(database):
    with database.session() as session:
        return [(a.attempted_at, a.status_code, a.error) for a in session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))]


def the_delivery(database):
    with database.session() as session:
        (found,) = session.scalars(select(Delivery)).all()
        return found


def register(hub, slug, url, key=None, secret=SECRET):
    return hub.call("PUT", f"/v1/partners/{slug}/webhook", key, json={"url": url, "secret": secret})
