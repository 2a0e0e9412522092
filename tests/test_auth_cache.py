"""A worker remembers an authenticated partner for a few seconds, and nothing else."""

from network.parties.auth import KeyCache, authenticate


class Ticker:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_remembered_partner_expires(world, database):
    ticker = Ticker()
    cache = KeyCache(seconds=5, clock=ticker)
    queries = []
    original = database.read

    def counting(work):
        queries.append(1)
        return original(work)

    database.read = counting
    header = f"Bearer {world.coffee}"
    first = authenticate(database, header, None, cache)
    assert authenticate(database, header, None, cache) == first
    assert len(queries) == 1
    ticker.now = 5.1
    assert authenticate(database, header, None, cache).partner.slug == "brew-bar"
    assert len(queries) == 2


def test_unknown_keys_are_never_remembered_and_zero_seconds_remembers_nothing(world, database):
    import pytest

    from network.errors import Unauthenticated

    cache = KeyCache(seconds=5)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            authenticate(database, "Bearer ck_unknown", None, cache)
    assert cache._entries == {}
    off = KeyCache(seconds=0)
    authenticate(database, f"Bearer {world.coffee}", None, off)
    assert off._entries == {}
