"""Helpers shared by the test modules, one module by what it holds; no test module imports another.

The names the flat tests/support.py had stay importable from here, so that
code written against it keeps working.
"""

from tests.support.hub import HubClient, World, order_id
from tests.support.ledger import snapshot

__all__ = ["HubClient", "World", "order_id", "snapshot"]
