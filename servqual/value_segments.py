"""Customer value segments (客户价值) from two value scores, split at their medians.

The practice (domain.md §3) assesses a customer's current value (当前价值: contribution,
cooperation, credit) and potential value (潜在价值: influence, growth). With a score column
for each, every respondent falls in one of four segments:

==================  =========  ===========  =========================================
segment             current    potential    strategy (reports/strategies.toml)
==================  =========  ===========  =========================================
``value``           high       high         key resources, one-to-one retention
``sub_value``       high       low          sufficient investment, closer supervision
``potential_value`` low        high         rebuild the relationship
``low_value``       low        low          develop, or change the approach
==================  =========  ===========  =========================================

"High" means at or above the median of that wave's respondents, so the split follows each
wave's own customers. A respondent without both scores has no value segment.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .instrument import VALUE_SEGMENT, Instrument
from .responses import WAVE, Responses

SEGMENTS = {(True, True): "value", (True, False): "sub_value", (False, True): "potential_value",
            (False, False): "low_value"}


def derive_value_segment(responses: Responses, instrument: Instrument) -> Responses:
    """Responses with the ``value_segment`` column added, when the instrument asks for it."""
    classes = instrument.customer_classes
    if classes is None or not classes.derived:
        return responses
    meta = responses.meta
    waves = meta[WAVE].astype(str)
    high = {}
    for name in (classes.current_value, classes.potential_value):
        score = pd.to_numeric(meta[name], errors="coerce")
        median = score.groupby(waves.to_numpy()).transform("median")
        high[name] = (score >= median).to_numpy(), score.isna().to_numpy()
    current, current_missing = high[classes.current_value]
    potential, potential_missing = high[classes.potential_value]
    labels = np.array([SEGMENTS[(c, p)] for c in (True, False) for p in (True, False)],
                      dtype=object)
    index = (~current).astype(int) * 2 + (~potential).astype(int)
    values = pd.Series(labels[index], index=meta.index, dtype=object)
    values[current_missing | potential_missing] = np.nan
    meta = meta.copy()
    meta[VALUE_SEGMENT] = pd.Categorical(values, categories=list(SEGMENTS.values()))
    return replace(responses, meta=meta, segments=tuple(responses.segments) + (VALUE_SEGMENT,))
