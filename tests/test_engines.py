"""Reading files ahead (servqual.engines.read_ahead): the same items in the same order, the
next one read while the caller works, errors where they belong, nothing kept alive."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from servqual import engines
from servqual.engines import ahead_for, read_ahead


class Table:
    """Stands for a read file (weak-referenceable, unlike a list)."""

    def __init__(self, n: int) -> None:
        self.n = n


class Source:
    """An iterable of tables that records which were read, and by which threads."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.read: list[int] = []
        self.threads: set[str] = set()

    def __iter__(self):
        for n in range(self.count):
            self.threads.add(threading.current_thread().name)
            if n == self.fail_at:
                raise ValueError(f"file {n} is broken")
            self.read.append(n)
            yield Table(n)


def wait_until(condition, timeout: float = 10.0) -> None:
    """Poll ``condition`` (the reading thread's progress) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_items_come_in_order_and_the_next_is_read_before_it_is_asked_for():
    source = Source(4)
    with read_ahead(source, depth=1) as tables:
        # Reading starts at the call, before the first next().
        wait_until(lambda: source.read == [0])
        first = next(tables)
        assert first.n == 0
        wait_until(lambda: source.read == [0, 1])  # read while the caller holds file 0
        assert [t.n for t in tables] == [1, 2, 3]
    assert threading.current_thread().name not in source.threads  # read in the background


def test_depth_zero_reads_each_when_asked_in_this_thread():
    source = Source(3)
    with read_ahead(source, depth=0) as tables:
        assert source.read == []
        assert next(tables).n == 0 and source.read == [0]
        assert [t.n for t in tables] == [1, 2]
    assert source.threads == {threading.current_thread().name}


def test_an_error_is_raised_where_its_file_is_taken():
    source = Source(4, fail_at=2)
    taken = []
    with pytest.raises(ValueError, match="file 2 is broken"):
        with read_ahead(source, depth=1) as tables:
            for table in tables:
                taken.append(table.n)
    assert taken == [0, 1]  # the files before the broken one were handed over first


def test_leaving_early_waits_for_the_read_in_flight_and_reads_no_more():
    source = Source(10)
    with read_ahead(source, depth=1) as tables:
        next(tables)
    # Closed: the read in flight (file 1) finished, nothing was started after it.
    count = len(source.read)
    assert count <= 2
    time.sleep(0.05)
    assert len(source.read) == count
    with pytest.raises(StopIteration):
        next(tables)


def test_a_table_handed_over_is_not_kept_alive_by_the_read_ahead():
    """Memory holds the file being worked on and the one read ahead, not earlier ones."""
    with read_ahead(Source(3), depth=1) as tables:
        table = next(tables)
        ref = weakref.ref(table)
        del table
        gc.collect()
        assert ref() is None


def test_read_ahead_only_when_no_file_is_large(tmp_path, monkeypatch):
    small, large = tmp_path / "a.csv", tmp_path / "b.csv"
    small.write_bytes(b"x" * 10)
    large.write_bytes(b"x" * 100)
    monkeypatch.setattr(engines, "READ_AHEAD_BYTES", 50)
    assert ahead_for([small]) == 1
    assert ahead_for([small, large]) == 0
    assert ahead_for([tmp_path / "missing.csv"]) == 1  # the read itself reports it missing
