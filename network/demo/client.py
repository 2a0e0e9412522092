"""How the demo speaks to the hub: over real HTTP, as a till or the operator would.

The hub runs in this process on a free local port (werkzeug's threaded
server); the client holds one keep-alive connection and sends bearer tokens,
JSON bodies and an Idempotency-Key on every write.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server


class DemoError(Exception):
    """The hub answered something the demo did not expect."""



class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):  # one line per request would drown the summary
        pass


@dataclass
class Answer:
    status: int
    headers: dict
    body: dict
    text: str
    key: str | None = None  # the Idempotency-Key it was sent with


class Client:
    """One keep-alive HTTP connection to the hub."""

    def __init__(self, host: str, port: int):
        self.connection = http.client.HTTPConnection(host, port, timeout=30)
        self.keys = 0
        self.requests = 0

    def call(self, method: str, path: str, token: str, body: dict | None = None, *, key: str | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            if key is None:
                self.keys += 1
                key = f"demo-{self.keys:06d}"
            headers["Idempotency-Key"] = key
        answer = self.send(method, path, headers, data)
        answer.key = key
        return answer

    def send(self, method: str, path: str, headers: dict, data: bytes | None) -> Answer:
        if self.connection.sock is None:
            self.connection.connect()
            # http.client writes the headers and the body in two sends: without this,
            # Nagle's algorithm and delayed ACKs stall every POST.
            self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        self.requests += 1
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = {}
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body, text)

    def close(self) -> None:
        self.connection.close()


def expect(answer: Answer, status: int, what: str) -> dict:
    if answer.status != status:
        raise DemoError(f"{what}: expected HTTP {status}, got {answer.status}: {answer.text[:500]}")
    return answer.body



@contextmanager
def serving(app) -> Iterator[Client]:
    """The hub on a free local port in this process (werkzeug's threaded server), and a client connected to it."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="coalition-demo-hub", daemon=True)
    thread.start()
    client = Client("127.0.0.1", server.server_port)
    try:
        yield client
    finally:
        client.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

