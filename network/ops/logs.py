"""The hub's log, one JSON object a line on standard error: what a log shipper parses without a pattern.

Every module logs under its own name (`logging.getLogger(__name__)`, so
`network.*`, `settlement.*`); `install` gives each of those trees one
handler with `JsonFormatter`.
A line written while a request is answered carries its `request_id`, the
one the answer's `X-Request-Id` header returns, so a caller's complaint
finds its lines. The access line (`network.ops.access`) adds its fields
through `extra={"fields": {...}}`, as any later line may.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import g, has_request_context
from flask.logging import default_handler

#: One encoder for every line: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode

#: The loggers of the hub's packages: every module logs under its own name, Flask's app logger is `network`.
HUB = ("network", "settlement", "partners", "plugins")


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601 to the millisecond), level, logger, message, pid, the record's fields, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if "request_id" not in line and has_request_context():
            request_id = g.get("request_id")
            if request_id:
                line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line)


def _utc(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int((created - seconds) * 1000):03d}Z"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is written (a test's capture, a redirection made later)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        """StreamHandler's, with `sys.stderr` read once: a line is written on every request."""
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging's rule: a line that cannot be written never fails the request
            self.handleError(record)


def install() -> None:
    """One JSON handler on each of the hub's logger trees, at INFO, once per process however many apps it builds."""
    for name in HUB:
        logger = logging.getLogger(name)
        logger.removeHandler(default_handler)  # Flask's, had the app logger been read first: lines would be written twice
        if not any(isinstance(handler, StderrHandler) for handler in logger.handlers):
            handler = StderrHandler()
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
