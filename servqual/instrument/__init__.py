"""The instrument file: which column holds what (contract §3).

``load_instrument(path)`` reads the TOML file into typed, immutable objects and checks it
thoroughly, because everything downstream trusts it: each problem is an
:class:`~servqual.errors.InstrumentError` (exit 65) naming the file and the key.
The objects are in :mod:`servqual.instrument.model`; reading and checking the file is
:mod:`servqual.instrument.loader`.
"""

from .loader import DEFAULT_INSTRUMENT, load_instrument, parse_instrument
from .model import (CLASS_KEYS, LANGUAGES, VALUE_SEGMENT, CustomerClasses, Dimension, Instrument,
                    Item, LongLayout, Settings, localise)

__all__ = ["CLASS_KEYS", "DEFAULT_INSTRUMENT", "LANGUAGES", "VALUE_SEGMENT", "CustomerClasses",
           "Dimension", "Instrument", "Item", "LongLayout", "Settings", "load_instrument",
           "localise", "parse_instrument"]
