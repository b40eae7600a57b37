"""The Dask engine: the parts of the survey files on the workers of a Dask cluster.

The work is the memory engine's (:mod:`.parts`), shipped by a :class:`distributed.Client`:
each part (a file, or a run of row groups of a Parquet file) is read, validated and
aggregated on a worker (:func:`~.parts.check_part`), and only its results come back: the
aggregates, the row accounting, the quarantined rows and the key hashes of its respondents.
The client settles the respondents shared by parts (:func:`~.parts.run_parts`, which asks the
parts holding them for those rows only), adds the aggregates and computes the statistics as
for any engine.

The workers read the files themselves, under the names the client gives: on a cluster of
several machines, the files must be at the same path on each (a shared file system), and
servqual must be installed on every worker (the work is servqual's own functions).

``--scheduler ADDRESS`` joins a running cluster; without it, the engine starts a cluster of
worker processes on this machine for the run and stops it afterwards.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from ..errors import UnavailableError, UsageError
from ..instrument import Instrument
from .parts import PartsEngine

INSTALL = "pip install 'servqual[dask]'"


class DaskEngine(PartsEngine):
    """Parts checked and aggregated on a Dask cluster; use as a context manager.

    Parameters
    ----------
    instrument
        The instrument.
    split_by
        A segment column whose units are also aggregated (``--split-by``).
    scheduler
        The address of the scheduler of a running cluster (``tcp://host:8786``); None: a
        local cluster of worker processes, started for the run.
    """

    def __init__(self, instrument: Instrument, *, split_by: str | None = None,
                 scheduler: str | None = None):
        try:
            importlib.import_module("distributed")
        except ImportError:
            raise UsageError(f"--engine dask needs Dask's distributed scheduler: {INSTALL}"
                             ) from None
        super().__init__(instrument, map_=self._map, split_by=split_by)
        self.scheduler = scheduler
        self.client = None
        self.cluster = None

    def __enter__(self) -> DaskEngine:
        from distributed import Client, LocalCluster

        if self.scheduler is None:
            self.cluster = LocalCluster(processes=True, n_workers=min(2, os.cpu_count() or 1),
                                        threads_per_worker=1, dashboard_address=None)
            self.client = Client(self.cluster)
            return self
        try:
            self.client = Client(self.scheduler)
        except (ValueError, TypeError) as err:
            raise UsageError(f"--scheduler {self.scheduler!r} is not the address of a Dask "
                             f"scheduler (such as tcp://host:8786): {err}") from None
        except OSError as err:  # refused, unknown host, timed out
            raise UnavailableError(f"cannot reach the Dask scheduler at {self.scheduler}: "
                                   f"{err}") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def _map(self, function: Callable, items: list, what: str) -> list:
        """``function`` over ``items`` on the workers, results in order (``what`` names the
        pass; the cluster's own dashboard shows progress). An error raised by a task (a
        servqual error naming a file) is raised here as it was raised there."""
        if not items:
            return []
        futures = self.client.map(function, items, pure=False)
        try:
            return self.client.gather(futures)
        finally:
            for future in futures:
                future.release()
