"""`coalition serve`: the app under gunicorn, the production WSGI server.

The hub keeps no state in the process, so workers (and hosts) scale out
behind a load balancer; each worker builds its own app and connection pool.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class HubServer(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from network import create_app

        return create_app()


def serve(host: str, port: int, workers: int, threads: int, access_log: bool = False) -> None:
    HubServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            # Off by default, as in gunicorn: a load balancer usually logs requests already.
            "accesslog": "-" if access_log else None,
            "timeout": 30,
        }
    ).run()
