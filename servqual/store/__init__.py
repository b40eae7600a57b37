"""The history store: every wave's sufficient statistics in one embedded DuckDB file.

``servqual ingest`` validates survey files and adds their waves here; ``servqual report
--store`` takes the history from here instead of reading old files again; ``servqual trend``
answers ad-hoc trend questions from here in a fraction of a second.

What a wave keeps (tables of the DuckDB file; schema version :data:`SCHEMA_VERSION`):

============================  ================================================================
``servqual_store``            key/value: ``schema_version`` (for migrations), ``created_by``
``waves``                     one row per wave: the instrument it was read with (its TOML text
                              and the fingerprint of what shapes the aggregates), its row
                              accounting, source files, respondents, the table of its rows
``ingests``                   one row per ``servqual ingest``: when, which files, which waves
``moments``                   n, Σx, Σx² (and weighted sums) per wave × segment value × item or
                              dimension × measure (:mod:`servqual.stats.moments`)
``histograms``                counts of each gap value per wave × segment value × item or
                              dimension: rank tests and medians (:mod:`servqual.stats.ranktests`);
                              and of each item's perception answers (their distribution)
``crossproducts``             Σx_a·x_b of complete respondents per wave × dimension: reliability;
                              and the key drivers' (weighted) sums, ``w`` their Σ weights
``importance``                what happened to the 100-point importance allocations, per wave
``quarantine``                every rejected row with its reason, and its values as JSON
``rows_<n>``                  the wave's valid respondents, one row each (answers as analysed:
                              reverse-scored, missing as NULL), for statistics that need rows
``trend_series``,             per wave and per series (dimension or item, whole sample or
``trend_fits``                segment value): the means, and the trend classified as
                              ``servqual report`` classifies it; rebuilt at every ingest
``deliveries``                which report reached whom (:mod:`servqual.distribution.log`);
                              created by the first ``--distribute`` with ``--store``
============================  ================================================================

Replacing a wave happens in one transaction: its old rows in every table go, the new ones
come, the trend tables are rebuilt, and only then is anything visible; a process killed on
the way leaves the store as it was (DuckDB's write-ahead log discards the uncommitted
transaction). One process writes at a time: DuckDB locks the file, and a second ``ingest``
waits for the lock up to ``--wait`` seconds, then fails with a message naming the holder.

A store holds waves read with one *instrument structure* (:func:`structure`): the same items
in the same dimensions, scale, missing codes, segments, weights and scoring settings. Wording,
labels and the thresholds applied after the aggregates (significance, trend settings …) may
change. A wave read with another structure is refused (exit 65) with what differs: mixing
would compare different things under one name.
"""

from pathlib import Path

# Here rather than in .schema, so that the command line reads them without loading DuckDB.
SCHEMA_VERSION = 3
DEFAULT_STORE = Path("surveys/servqual.duckdb")
DEFAULT_WAIT = 30.0  # seconds to wait for another process's lock on the store

__all__ = ["DEFAULT_STORE", "DEFAULT_WAIT", "SCHEMA_VERSION"]
