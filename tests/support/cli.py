"""The `coalition` command run on a test's own app, as the Flask tutorial's `runner` fixture does."""

from __future__ import annotations

from click.testing import CliRunner, Result
from flask import Flask

from network.cli import main


class HubRunner(CliRunner):
    """Invokes the product's group with `app` as its app: the test's database, clock and settings."""

    def __init__(self, app: Flask, **kwargs):
        super().__init__(**kwargs)
        self.app = app

    def invoke(self, args=None, **kwargs) -> Result:
        return super().invoke(main, [str(arg) for arg in args or ()], obj=self.app, **kwargs)
