"""HTTP: `coalition serve` under gunicorn as a subprocess, and keep-alive clients.

The server always stops (SIGTERM to the process we started, SIGKILL if it
lingers), whatever happens in the run.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from bench.load import Op
from bench.world import REDEEM_POINTS, World

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-operator-token"
#: Rate limits on, so the bench pays for counting every request, but far above what its clients send (a one-second
#: window keeps each counter as short as a production one: a few thousand entries at most).
RATE_LIMITS = {"COALITION_RATE_LIMIT": "1000000/second", "COALITION_RATE_LIMIT_ANONYMOUS": "1000000/second"}
#: `coalition serve`'s defaults (one worker per CPU, 4 threads each), for the hub and the hello-world alike.
WORKERS, THREADS = os.cpu_count() or 2, 4
SALE_BODY = {"type": "sale", "occurred_at": "2026-03-14T10:30:00+01:00", "currency": "EUR", "total": "12.50"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def coalition_command() -> list[str]:
    script = Path(sys.executable).with_name("coalition")
    if script.exists():
        return [str(script)]
    found = shutil.which("coalition")
    if found is None:
        raise RuntimeError("the `coalition` command is not installed (pip install -e .)")
    return [found]


class HttpFailure(Exception):
    pass


class Client:
    """One keep-alive connection; a request the server closed under us is sent again once."""

    def __init__(self, port: int):
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, http.client.CannotSendRequest, ConnectionError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, key: str, payload: dict | None = None, expect: int = 200,
             idempotency_key: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {key}"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        status, data = self.request(method, path, body, headers)
        if status != expect:
            raise HttpFailure(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data) if data else {}

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Server:
    """A server subprocess on a free port; use as a context manager."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, name: str):
        self.argv, self.env, self.log_path, self.name = argv, env, log, name
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                Client(self.port).request("GET", "/v1/openapi.json")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f}s:\n{self.tail()}")

    @property
    def port(self) -> int:
        return int(self.argv[self.argv.index("--port") + 1]) if "--port" in self.argv else int(
            self.argv[self.argv.index("--bind") + 1].rsplit(":", 1)[1])

    def tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(deque(f, maxlen=lines)).decode(errors="replace")
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()  # gunicorn's master stops its workers on SIGTERM
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.log.close()


def hub_server(database_url: str, port: int, log: Path, workers: int = WORKERS, threads: int = THREADS) -> Server:
    env = {**os.environ, "DATABASE_URL": database_url, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, **RATE_LIMITS}
    argv = [*coalition_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--threads", str(threads)]
    return Server(argv, env, log, "coalition serve")


def hello_server(port: int, log: Path, workers: int = WORKERS, threads: int = THREADS) -> Server:
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads",
            str(threads), "--worker-class", "gthread", "--access-logfile", "-", "bench.hello:app"]
    return Server(argv, {**os.environ, "PYTHONPATH": str(ROOT)}, log, "gunicorn hello-world")


def earn_ops(port: int, world: World, clients: int, *, hot: bool, tag: str) -> list[Op]:
    """A till's sale in the canonical JSON, with an Idempotency-Key as every till should send."""

    def make(k: int) -> Op:
        client, rng = Client(port), random.Random(k)

        def op(i: int) -> None:
            card = (world.hot if hot else rng.choice(world.members)).card
            client.call("POST", "/v1/transactions", world.partners[i % len(world.partners)].key,
                        {**SALE_BODY, "order_id": f"{tag}-{i}", "card_number": card}, expect=201,
                        idempotency_key=f"{tag}-{i}")

        op.close = client.close  # type: ignore[attr-defined]
        return op

    return [make(k) for k in range(clients)]


def redeem_ops(port: int, world: World, clients: int, *, hot: bool, tag: str) -> list[Op]:
    def make(k: int) -> Op:
        client, rng = Client(port), random.Random(1000 + k)

        def op(i: int) -> None:
            card = (world.hot if hot else rng.choice(world.members)).card
            client.call("POST", "/v1/redemptions", world.partners[i % len(world.partners)].key,
                        {"card_number": card, "points": REDEEM_POINTS, "order_id": f"{tag}-{i}"}, expect=201,
                        idempotency_key=f"{tag}-{i}")

        op.close = client.close  # type: ignore[attr-defined]
        return op

    return [make(k) for k in range(clients)]


def balance_ops(port: int, key: str, card: str, clients: int) -> list[Op]:
    def make(_k: int) -> Op:
        client = Client(port)

        def op(_i: int) -> None:
            client.call("GET", f"/v1/cards/{card}/balance", key)

        op.close = client.close  # type: ignore[attr-defined]
        return op

    return [make(k) for k in range(clients)]


def hello_ops(port: int, clients: int) -> list[Op]:
    body = json.dumps({**SALE_BODY, "order_id": "HELLO", "card_number": "7000000000000008"}).encode()

    def make(_k: int) -> Op:
        client = Client(port)

        def op(_i: int) -> None:
            status, _ = client.request("POST", "/", body, {"Content-Type": "application/json",
                                                           "Authorization": "Bearer x"})
            if status != 201:
                raise HttpFailure(f"hello-world answered {status}")

        op.close = client.close  # type: ignore[attr-defined]
        return op

    return [make(k) for k in range(clients)]
