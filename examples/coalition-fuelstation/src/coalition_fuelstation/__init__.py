"""Coalition loyalty plugin for fuel stations, registered through the `coalition` entry-point group.

The hub finds this module by its entry point and calls the two hooks below
when it starts; nothing here runs at import but the definitions.
"""

from __future__ import annotations

from coalition_fuelstation.per_litre import PerLitre
from coalition_fuelstation.pump_log import FuelstationAdapter
from partners.hookspecs import hookimpl


@hookimpl
def coalition_register_adapters():
    return [FuelstationAdapter()]


@hookimpl
def coalition_register_rules():
    return [PerLitre()]
