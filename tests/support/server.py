"""`coalition serve` for real: gunicorn on a free port, started by a test and stopped after it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_hub(database_url: str, workdir: Path, env: dict | None = None, workers: int = 2):
    """Yield the base URL once /v1/openapi.json answers; the server's log is in `workdir`/server.log."""
    port = free_port()
    environ = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    coalition = str(Path(sys.executable).with_name("coalition"))
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([coalition, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                                   env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/v1/openapi.json", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(log_path.read_text())
                time.sleep(0.1)
        try:
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def raw_exchange(base: str, request: bytes, timeout: float = 10) -> bytes:
    """Send bytes no HTTP client would, and read the answer until the server closes the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request)
        chunks = []
        with contextlib.suppress(ConnectionResetError):  # a server closing on unread bytes resets, after its answer
            while chunk := connection.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def in_a_thread(app):
    """`app` on a free port in this process (werkzeug's threaded server): a browser's hub, with the test's own clock."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
