"""Build the plugin manager: one per app, never a global made at import.

Plugins come from the `coalition` entry-point group, so the built-ins in
`plugins/` arrive the same way as a third party's package. The
`COALITION_BLOCK_PLUGINS` environment variable (comma-separated names) keeps
named plugins out, for example to replace a built-in adapter.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from partners import hookspecs
from partners.adapters import Adapter
from partners.rules import STAGES, EarningRule

ENTRY_POINT_GROUP = "coalition"


class PluginConflict(RuntimeError):
    """Two plugins claim the same adapter or rule name."""


def make_plugin_manager(
    extra: Iterable[object] = (), blocked: Iterable[str] | None = None
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if blocked is None:
        blocked = [name for name in os.environ.get("COALITION_BLOCK_PLUGINS", "").split(",") if name.strip()]
    for name in blocked:
        pm.set_blocked(name.strip())
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


#: Adapter and rule names are stored with each partner and award (40 characters at most).
MAX_NAME = 40


class PluginError(RuntimeError):
    """A plugin provides something the hub cannot use: refused when the hub starts."""


def _by_name(kind: str, provided: Iterable[Iterable[Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for items in provided:
        for item in items or ():
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
                raise PluginError(f"a {kind} needs a name of 1 to {MAX_NAME} characters, not {name!r}")
            if kind == "rule" and getattr(item, "stage", None) not in STAGES:
                raise PluginError(f"rule {name!r} has stage {getattr(item, 'stage', None)!r}; one of {', '.join(STAGES)}")
            if name in found:
                raise PluginConflict(f"two plugins provide the {kind} {name!r}")
            found[name] = item
    return found


def adapters(pm: pluggy.PluginManager, settings: Mapping[str, Any] | None = None) -> dict[str, Adapter]:
    return _by_name("adapter", pm.hook.coalition_register_adapters(settings=settings or {}))


def rules(pm: pluggy.PluginManager, settings: Mapping[str, Any] | None = None) -> dict[str, EarningRule]:
    return _by_name("rule", pm.hook.coalition_register_rules(settings=settings or {}))


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as `coalition plugins` lists it."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    #: What its registration hooks return: "adapter:shopify", "rule:cap".
    provides: tuple[str, ...]


_REGISTRATIONS = {"coalition_register_adapters": "adapter", "coalition_register_rules": "rule"}


def describe(pm: pluggy.PluginManager, settings: Mapping[str, Any] | None = None) -> list[PluginInfo]:
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    arguments = {"settings": settings or {}}
    found = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        dist = dists.get(id(plugin))
        provides = []
        for hook, kind in _REGISTRATIONS.items():
            for impl in getattr(pm.hook, hook).get_hookimpls():
                if impl.plugin is plugin:
                    items = impl.function(**{arg: arguments[arg] for arg in impl.argnames})
                    provides += [f"{kind}:{item.name}" for item in items or ()]
        found.append(PluginInfo(
            name=name,
            distribution=dist.metadata["name"] if dist else None,
            version=dist.version if dist else None,
            hooks=tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())),
            provides=tuple(sorted(provides)),
        ))
    return sorted(found, key=lambda info: info.name)
