"""Pure statistics: per-respondent scores, sufficient statistics, gaps and their tests."""

from .gaps import adjust_p, adjust_pvalues, gap_table, paired_t
from ..models import ALL
from .moments import combine, describe
from .scores import Block, dimension_means, membership, paired_items, score_blocks

__all__ = [
    "ALL", "Block", "adjust_p", "adjust_pvalues", "combine", "describe", "dimension_means",
    "gap_table", "membership", "paired_items", "paired_t", "score_blocks",
]
