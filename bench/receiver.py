"""The partners' end of the delivery bench: a threading HTTP server in a process of its own, and its record.

    python -m bench.receiver --port 8123 --record /tmp/receiver.tsv

A webhook's URL says how its endpoint behaves: `/<behaviour>/<label>?...`,
the label naming the bench's partner (and so its scenario) in the record.

- `/ok/<label>`: 200 at once;
- `/fail/<label>?p=0.3`: 500 for a share p of the requests, drawn at random, else 200;
- `/slow/<label>?ms=5000`: 200 after that long;
- `/drip/<label>?every=0.8&bytes=12`: 200 and its headers at once, then the body one byte at a time.

Every request is two lines of the record, flushed as they happen so the
bench can follow it live: `R` when it is read (the time received, the event
id from the `Coalition-Event-Id` header, the client's port) and `A` when its
answer ended: the status chosen, the time, and whether the client hung up
before the answer was all written (`cut`: the hub's deadline, or a deliverer
killed mid-request). The receiver watches the socket while it makes a client
wait, so a hang-up is seen when it happens, not at the next write.

Times are `time.time()`: the bench compares them with events' `created_at`
on the same machine.
"""

from __future__ import annotations

import argparse
import itertools
import random
import select
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

EVENT_ID_HEADER = "Coalition-Event-Id"  # network.events.webhooks.EVENT_ID_HEADER, read without importing the hub


class Server(ThreadingHTTPServer):
    daemon_threads = True
    #: The default (5) drops connections when a few deliverers open their pools at once.
    request_queue_size = 1024

    def __init__(self, port: int, record: Path):
        super().__init__(("127.0.0.1", port), Handler)
        self.out = open(record, "w", buffering=1)
        self.lock = threading.Lock()
        self.numbers = itertools.count()

    def write(self, line: str) -> None:
        with self.lock:
            self.out.write(line)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the deliverers' pools expect
    disable_nagle_algorithm = True  # the status line and the body are two writes: no 40 ms delayed-ACK stall
    server: Server

    def log_message(self, *args) -> None:  # no line per request on stderr
        pass

    def do_POST(self) -> None:
        received = time.time()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        number = next(self.server.numbers)
        event_id = self.headers.get(EVENT_ID_HEADER) or "-"
        path, _, query = self.path.partition("?")
        behaviour, _, label = path.strip("/").partition("/")
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        port = self.client_address[1]
        self.server.write(f"R\t{number}\t{received:.6f}\t{event_id}\t{label}\t{port}\n")
        status, cut = 200, False
        try:
            if behaviour == "fail":
                status = 500 if random.random() < float(params.get("p", "0.3")) else 200
                self._answer(status)
            elif behaviour == "slow":
                cut = self._hung_up_within(float(params.get("ms", "5000")) / 1000)
                if not cut:
                    self._answer(status)
            elif behaviour == "drip":
                cut = self._drip(float(params.get("every", "0.8")), int(params.get("bytes", "12")))
            elif behaviour == "ok":
                self._answer(status)
            else:
                status = 404
                self._answer(status)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            cut = True
        if cut:
            self.close_connection = True
        self.server.write(f"A\t{number}\t{time.time():.6f}\t{event_id}\t{label}\t{port}\t{status}\t{int(cut)}\n")

    def _answer(self, status: int) -> None:
        body = b'{"ok":true}' if status < 400 else b'{"ok":false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hung_up_within(self, seconds: float) -> bool:
        """Wait `seconds`; True as soon as the client closes its end (it sends nothing else while it waits)."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(min(left, 0.05))  # a pipelined request: not ours to read yet
        return False

    def _drip(self, every: float, count: int) -> bool:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(count))
        self.end_headers()
        for _ in range(count):
            if self._hung_up_within(every):
                return True
            self.wfile.write(b".")
        return False


@dataclass
class Request:
    """One request the receiver read, and how it ended (`answered` None while it is still being answered)."""

    number: int
    received: float
    event_id: str
    label: str
    port: int
    answered: float | None = None
    status: int | None = None
    cut: bool = False

    @property
    def took(self) -> float | None:
        return None if self.answered is None else self.answered - self.received

    @property
    def accepted(self) -> bool:
        """The receiver took the event (answered, or meant to answer, 2xx): a real one would have processed it."""
        return self.status is not None and 200 <= self.status < 300


class Record:
    """The receiver's record, read as it grows (`poll`), requests by number."""

    def __init__(self, path: Path):
        self.path = path
        self.requests: dict[int, Request] = {}
        self._offset = 0
        self._rest = ""

    def poll(self) -> dict[int, Request]:
        try:
            with open(self.path) as f:
                f.seek(self._offset)
                chunk = f.read()
                self._offset = f.tell()
        except FileNotFoundError:
            return self.requests
        lines = (self._rest + chunk).split("\n")
        self._rest = lines.pop()
        for line in lines:
            fields = line.split("\t")
            if fields[0] == "R":
                number = int(fields[1])
                self.requests[number] = Request(number, float(fields[2]), fields[3], fields[4], int(fields[5]))
            elif fields[0] == "A":
                found = self.requests.get(int(fields[1]))
                if found is not None:
                    found.answered, found.status, found.cut = float(fields[2]), int(fields[6]), fields[7] == "1"
        return self.requests

    def of(self, prefix: str) -> list[Request]:
        """The requests for labels starting with `prefix` (a scenario's), in the order received."""
        return [r for r in self.poll().values() if r.label.startswith(prefix)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    random.seed(args.seed)
    server = Server(args.port, args.record)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.out.close()


if __name__ == "__main__":
    main()
