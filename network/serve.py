"""`coalition serve`: the app under gunicorn, the production WSGI server.

The hub keeps no state in the process, so workers (and hosts) scale out
behind a load balancer; each worker builds its own app and connection pool.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication
from gunicorn.http.errors import ParseException

from network.serve_errors import JsonErrorsWorker, in_app


class HubServer(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from network import create_app

        app = create_app()
        app.register_error_handler(ParseException, in_app)
        return app


def serve(host: str, port: int, workers: int, threads: int, access_log: bool = False) -> None:
    HubServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": JsonErrorsWorker,  # gthread, answering its own refusals in JSON
            # Off by default, as in gunicorn: a load balancer usually logs requests already.
            "accesslog": "-" if access_log else None,
            "timeout": 30,
            # gunicorn's defaults, written down: the README's error table states them (request_line_too_long, headers_too_large).
            "limit_request_line": 4094,
            "limit_request_fields": 100,
            "limit_request_field_size": 8190,
        }
    ).run()
