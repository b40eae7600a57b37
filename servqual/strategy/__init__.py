"""Evidence → recommended strategy, in English and Chinese, from an editable data file.

The words live in ``reports/strategies.toml`` (or a file given with ``--strategies``):
:mod:`.book` reads and checks that file, :mod:`.texts` puts its pieces together for a weak
point, a trend direction or a piece of evidence.
"""

from .book import (DIRECTIONS, EVIDENCE, OPTIONAL_EVIDENCE, OPTIONAL_SECTIONS, PLACEHOLDERS,
                   SERVQUAL_DIMENSIONS, StrategyBook, Text, default_strategies, load_strategies)
from .texts import (direction_strategy, evidence_texts, fill, loyalty_strategies, point_label,
                    recommend, subject_label, unit_value)

__all__ = ["DIRECTIONS", "EVIDENCE", "OPTIONAL_EVIDENCE", "OPTIONAL_SECTIONS", "PLACEHOLDERS",
           "SERVQUAL_DIMENSIONS", "StrategyBook", "Text", "default_strategies",
           "direction_strategy", "evidence_texts", "fill", "load_strategies", "loyalty_strategies",
           "point_label",
           "recommend", "subject_label", "unit_value"]
