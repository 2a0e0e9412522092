"""`coalition events deliver` processes for the delivery bench, and the receiver's process.

Each process started here is stopped by its own id (SIGTERM, then SIGKILL
if it lingers), whatever happens in the run. A deliverer's connections to
the receiver are read from /proc, so the bench can tell which requests in
flight are the ones of the deliverer it is about to kill.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from bench.web import ROOT, coalition_command

#: What `coalition events deliver` writes on standard error once it runs (network/cli.py).
READY = b"delivering with"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        with open(path, "rb") as f:
            return b"".join(deque(f, maxlen=lines)).decode(errors="replace")
    except OSError:
        return ""


def _stop(process: subprocess.Popen, grace: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Deliverer:
    """One `coalition events deliver` process on the bench's database, with its settings in its environment."""

    def __init__(self, name: str, database_url: str, settings: dict[str, str], *, threads: int, interval: float,
                 logs: Path):
        self.name, self.log_path = name, logs / f"{name}.log"
        self.argv = [*coalition_command(), "events", "deliver", "--threads", str(threads), "--interval", str(interval)]
        self.env = {**os.environ, "DATABASE_URL": database_url, **settings,
                    # the hub's key files, should anything want one, in the bench's temporary folder
                    "COALITION_SIGNING_KEYS_DIR": str(logs / "settlement-keys"),
                    "COALITION_MASTER_KEY_FILE": str(logs / "master.key"),
                    "COALITION_SECRET_KEY_FILE": str(logs / "session.key")}
        self.process: subprocess.Popen | None = None
        self.killed_at: float | None = None

    def start(self) -> Deliverer:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{_tail(self.log_path)}")
            if READY in self.log_path.read_bytes():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start within {timeout:.0f}s:\n{_tail(self.log_path)}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> float:
        """SIGKILL, as an out-of-memory killer or a lost host would; returns when (time.time())."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.killed_at = time.time()
        self.process.wait(timeout=10)
        return self.killed_at

    def stop(self, grace: float) -> None:
        if self.process is not None:
            _stop(self.process, grace)
            self._log.close()

    def tail(self) -> str:
        return _tail(self.log_path)

    def ports_to(self, port: int) -> set[int] | None:
        """This process's local ports of its TCP connections to `port` (the receiver); None off Linux."""
        return connections(self.process.pid, port)


def connections(pid: int, remote_port: int) -> set[int] | None:
    """Local ports of `pid`'s TCP sockets connected to `remote_port`, from /proc (None where there is no /proc)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        local, remote, inode = fields[1], fields[2], fields[9]
                        if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                            ports.add(int(local.rsplit(":", 1)[1], 16))
            except FileNotFoundError:
                continue
        return ports
    except OSError:
        return None


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user and system) a process has used so far, from /proc; None where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime: fields 14 and 15 of proc(5)


class Receiver:
    """`python -m bench.receiver` on a free port; use as a context manager."""

    def __init__(self, port: int, record: Path, log: Path):
        self.port, self.record, self.log_path = port, record, log
        self.process: subprocess.Popen | None = None

    def url(self, behaviour: str, label: str, **params) -> str:
        query = "&".join(f"{key}={value}" for key, value in params.items())
        return f"http://127.0.0.1:{self.port}/{behaviour}/{label}" + (f"?{query}" if query else "")

    def __enter__(self) -> Receiver:
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", "--port", str(self.port), "--record", str(self.record)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the receiver exited with {self.process.returncode}:\n{_tail(self.log_path)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError("the receiver did not answer within 30s")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            _stop(self.process, 5)
        self._log.close()
