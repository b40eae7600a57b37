"""Behaviour: a CRM extract joined to the respondents by id.

Loyalty shows in behaviour — repeat purchases, share of purchases — more than in what
customers say they intend. An outcome with ``source = "behaviour"`` (by default
``[outcomes.repeat_purchases]`` and ``[outcomes.purchase_share]``,
:mod:`servqual.instrument.outcomes`) is read from a CRM extract given with
``--behaviour FILE`` (CSV, TSV, Excel, Parquet or SPSS, read as the survey files are) instead
of the survey files.

The join: a respondent's value is that of the extract's record whose id (the column ``[behaviour]
id``) equals the respondent's id (``[instrument] respondent_id``), compared as text as the
validation reads ids (:func:`servqual.validation.cells.respondent_ids`: stripped, 1001.0 is
"1001"); when ``[behaviour] wave`` names the extract's wave column, the record must be of the
respondent's wave too, else one record per customer serves every wave. A respondent without a
record, or whose value is not a number on the outcome's scale
(:func:`servqual.instrument.outcomes.usable`), counts as not answering that outcome, like a
blank answer: the respondent's other answers still count, and the outcome's n says how many
were matched (``loyalty.outcomes``).

The extract must be unambiguous: a missing column, an unreadable record or two records of one
id (and wave) stop the run (exit 65, naming file, row and column); records without an id join
nobody and are counted. A run whose extract matches none of its respondents stops too
(:func:`check_matched`): the ids are written differently in the two files, or the wrong column
was named.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError
from .instrument import Instrument
from .instrument.outcomes import Outcome, usable

_JOIN = "\x1f"  # between id and wave in a record's key (a control character: in no label)


@dataclass(frozen=True)
class Extract:
    """A CRM extract, ready to join: each record's key and each behaviour outcome's values
    (NaN where not usable), in the same order."""

    path: Path
    keys: pd.Index
    values: dict[str, np.ndarray] = field(default_factory=dict)
    by_wave: bool = False
    records: int = 0  # records read
    blank_ids: int = 0  # records without an id (they join nobody)
    unusable: dict[str, int] = field(default_factory=dict)  # per outcome: cells not usable

    def lookup(self, outcome: Outcome, ids, waves) -> np.ndarray:
        """The outcome's value of each respondent (``ids`` as text, ``waves`` their waves):
        NaN where the extract has no record of the respondent (and wave)."""
        keys = np.asarray(ids, dtype=object).astype(str)
        if self.by_wave:
            keys = np.char.add(np.char.add(keys, _JOIN), np.asarray(waves, dtype=str))
        at = self.keys.get_indexer(keys)
        out = np.full(len(keys), np.nan)
        found = at >= 0
        out[found] = self.values[outcome.key][at[found]]
        return out

    def summary(self) -> dict:
        """The extract's record for the data-quality section (``data_quality.behaviour``)."""
        return {"file": str(self.path), "records": self.records, "blank_ids": self.blank_ids,
                "by_wave": self.by_wave, "unusable": dict(self.unusable)}


def load_extract(path: str | Path, instrument: Instrument) -> Extract:
    """Read and check the CRM extract of ``instrument``'s behaviour outcomes."""
    from .ingest import read_table
    from .validation.cells import numeric_column, respondent_ids
    from .validation.columns import closest_names

    path = Path(path)
    id_column, wave_column = instrument.behaviour
    # The extract is a plain table: the survey's title rows, header rows and sheet are not its.
    plain = dataclasses.replace(instrument, settings=dataclasses.replace(
        instrument.settings, header_rows=1, names_row=1, skip_rows=0, sheet=""))
    raw = read_table(path, plain)
    if len(raw.unparseable):
        bad = raw.unparseable.iloc[0]
        raise DataError("this record of the CRM extract cannot be split into the header's "
                        "columns", file=path, row=int(bad["source_row"]))
    frame = raw.frame
    frame.columns = [str(c).strip() for c in frame.columns]
    outcomes = [o for o in instrument.outcomes if o.from_behaviour]
    wanted = [(id_column, "behaviour.id")] + ([(wave_column, "behaviour.wave")]
                                              if wave_column else [])
    wanted += [(o.column, f"outcomes.{o.key}.column") for o in outcomes]
    for column, key in wanted:
        if column not in frame.columns:
            close = closest_names(column, list(frame.columns))
            hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
            raise DataError(f"the CRM extract has no column {column!r} ([{key}]){hint}",
                            file=path, row=raw.header_row, column=column, key=key)
    ids, blank = respondent_ids(frame[id_column])
    keys = np.asarray(ids, dtype=object).astype(str)
    if wave_column:
        waves, no_wave = respondent_ids(frame[wave_column])
        if (no_wave & ~blank).any():
            at = int(np.flatnonzero(no_wave & ~blank)[0])
            raise DataError("this record of the CRM extract has no wave", file=path,
                            row=int(raw.source_rows[at]), column=wave_column)
        keys = np.char.add(np.char.add(keys, _JOIN), np.asarray(waves, dtype=object).astype(str))
    kept = np.flatnonzero(~blank)
    index = pd.Index(keys[kept])
    if not index.is_unique:
        again = int(np.flatnonzero(index.duplicated(keep="first"))[0])  # a second record
        first = kept[int(np.flatnonzero(index == index[again])[0])]
        second = kept[again]
        raise DataError(
            f"the CRM extract has two records of the respondent {str(ids[first])!r}"
            + (" in one wave" if wave_column else "")
            + f" (rows {int(raw.source_rows[first])} and {int(raw.source_rows[second])}): "
            "which one is the customer's is not clear; keep one", file=path,
            row=int(raw.source_rows[second]), column=id_column)
    values, unusable = {}, {}
    for outcome in outcomes:
        numbers, text = numeric_column(frame[outcome.column])
        kept_values = usable(numbers, outcome)
        unusable[outcome.key] = int(((text | (np.isnan(kept_values) & ~np.isnan(numbers)))
                                     & ~blank).sum())
        values[outcome.key] = kept_values[kept]
    return Extract(path=path, keys=index, values=values, by_wave=bool(wave_column),
                   records=raw.rows_read, blank_ids=int(blank.sum()), unusable=unusable)


def check_matched(outcomes: pd.DataFrame, instrument: Instrument) -> None:
    """Stop a run whose CRM extract matched none of its respondents (``outcomes``: the
    per-wave counts of :func:`servqual.stats.tables.outcome_table`, whole sample)."""
    extract = instrument.extract
    if extract is None:
        return
    for outcome in instrument.outcomes:
        if not outcome.from_behaviour:
            continue
        rows = outcomes[outcomes["outcome"] == outcome.key] if len(outcomes) else outcomes
        if len(rows) and rows["n"].sum() > 0:
            continue
        id_column = instrument.behaviour[0]
        raise DataError(
            f"the CRM extract matched none of the respondents: no record's {id_column!r} "
            f"equals a respondent's {instrument.settings.respondent_id!r}"
            + (f" in the respondent's wave ({instrument.behaviour[1]!r})"
               if extract.by_wave else "")
            + f", or none of the matched records has a usable {outcome.column!r}. Check that "
            "both files write the ids alike", file=extract.path, column=id_column,
            key="behaviour.id")


def with_extract(instrument: Instrument, path: Path | None, required: bool) -> Instrument:
    """The instrument with its CRM extract (``--behaviour``) loaded; ``required``: survey
    files are read whose behaviour outcomes need it (``servqual report`` and ``ingest``)."""
    from .errors import InputFileError, UsageError

    if path is None:
        if instrument.behaviour is not None and required:
            used = ", ".join(o.key for o in instrument.outcomes if o.from_behaviour)
            raise UsageError(f"the instrument reads {used} from a CRM extract ([behaviour]): "
                             "give it with --behaviour FILE")
        return instrument
    if instrument.behaviour is None:
        raise UsageError("--behaviour joins a CRM extract to the respondents, and the "
                         "instrument names no outcome from one: add [behaviour] and "
                         "[outcomes.repeat_purchases] or [outcomes.purchase_share]", file=path)
    if not Path(path).is_file():
        raise InputFileError("the CRM extract (--behaviour) does not exist", file=path)
    return dataclasses.replace(instrument, extract=load_extract(path, instrument))


def match_warnings(outcomes: pd.DataFrame, instrument: Instrument) -> list[str]:
    """A warning per wave in which fewer than half the respondents were matched with a usable
    value of a behaviour outcome (``outcomes``: :func:`servqual.stats.tables.outcome_table`)."""
    extract = instrument.extract
    if extract is None or not len(outcomes):
        return []
    rows = outcomes[(outcomes["source"] == "behaviour") & (outcomes["respondents"] > 0)]
    low = rows[rows["n"] < rows["respondents"] / 2]
    return [f"warning: the CRM extract {extract.path} has a usable {r.outcome} for only "
            f"{int(r.n):,} of the {int(r.respondents):,} respondents of {r.wave}: check that "
            "both files write the ids alike" for r in low.itertuples()]
