"""`coalition serve`: the app under gunicorn, the production WSGI server.

The hub keeps no state in the process, so workers (and hosts) scale out
behind a load balancer; each worker builds its own app and connection pool.
Their figures are the exception: each worker counts its own, into the
directory `network.ops.metrics_dir` sets up before anything imports
prometheus-client (so the worker class is named, not imported, here), and
any worker answering /metrics adds them all up; a worker that exits is
marked dead there, and the directory, if made here, goes with the server.

Logs are JSON lines on standard error: the hub's own (an access line per
request, written by the app), and gunicorn's (boot, worker exits, its
refusals' warnings) in the same shape. gunicorn's access log is off: the
app's line says more (the route, the request id), and what gunicorn refuses
before the app runs gets the same line from `network.serve_errors`.
"""

from __future__ import annotations

import os

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from network.ops import metrics_dir
from network.ops.logs import JsonFormatter


class HubServer(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from gunicorn.http.errors import ParseException

        from network import create_app
        from network.serve_errors import in_app

        app = create_app()
        app.register_error_handler(ParseException, in_app)
        return app


class JsonLogger(Logger):
    """gunicorn's own lines as JSON, like the hub's; and no access line of its own, the app writes a better one."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time) -> None:
        return None


def serve(host: str, port: int, workers: int, threads: int, access_log: bool | None = None) -> None:
    """`access_log`: the app's JSON line per request, on or off; None leaves it to COALITION_ACCESS_LOG."""
    if access_log is not None:
        os.environ["COALITION_ACCESS_LOG"] = "1" if access_log else "0"
    metrics_dir.check_mode()
    directory, made = metrics_dir.prepare()

    def child_exit(server, worker) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, directory)

    def on_exit(server) -> None:
        if made:
            metrics_dir.remove(directory)

    HubServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            # gthread, answering its own refusals in JSON; by name, imported once the metrics directory is set.
            "worker_class": "network.serve_errors.JsonErrorsWorker",
            "logger_class": JsonLogger,
            "accesslog": None,
            "child_exit": child_exit,
            "on_exit": on_exit,
            "timeout": 30,
            # gunicorn's defaults, written down: the README's error table states them (request_line_too_long, headers_too_large).
            "limit_request_line": 4094,
            "limit_request_fields": 100,
            "limit_request_field_size": 8190,
        }
    ).run()
