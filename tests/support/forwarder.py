"""A TCP forwarder in a thread: the hub talks to PostgreSQL through it, and a test stops the database by closing it.

Stopping the shared PostgreSQL server would stop every other test running
at the same time; closing this forwarder stops only the hub that connects
through it. `close` drops the listener and every connection (the hub sees
the refusal a stopped server gives), `open` listens again on the same port,
and `stall` accepts connections and never answers (a host that went away
without a word, what a timeout is for).
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.server import free_port

POLL = 0.05


class Forwarder:
    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.stalling = False
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Forwarder:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(POLL)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """No more listener, no more connections: as a server that stopped."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _drop(sock)

    def stall(self) -> None:
        """From now on accept, and never forward: a connection that hangs."""
        self.stalling = True

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self._sockets.add(client)
            if self.stalling:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _drop(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.add(upstream)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    _drop(sink)


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
