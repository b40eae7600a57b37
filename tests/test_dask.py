"""The Dask engine through the command line, on a cluster of worker processes.

The figures of the Dask engine are the memory engine's (the same parts, checked and
aggregated by the same functions, on workers): every field of the JSON results must be equal
(to 1e-9) on the 8-wave sample, per ``--split-by`` unit, for a Parquet dataset read a few row
groups at a time, and the quarantine must hold the same rows. Against hand-computed answers
the engine is tested in test_engines.py (the tiny survey, the reasons' oracle, the duplicate
rule across files and row groups) and test_questionnaire.py (a changed questionnaire).
"""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, SAMPLE
from fixtures import TINY_INSTRUMENT, assert_same, tiny, write
from servqual.cli import app

pytest.importorskip("distributed", reason="pip install -e '.[test]'")
runner = CliRunner()


def run(tmp_path, name, files, *options, instrument=INSTRUMENT):
    out = tmp_path / name
    out.mkdir()
    result = runner.invoke(app, ["report", *map(str, files), "--instrument", str(instrument),
                                 "--out", str(out / "r.html"), "--json", str(out / "r.json"),
                                 *options])
    assert result.exit_code == 0, result.output
    return out


def quarantined(path):
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sorted(tuple(sorted(r.items())) for r in csv.DictReader(fh))


def test_assert_same_sees_a_difference():
    """The comparison the tests rest on can fail."""
    with pytest.raises(AssertionError):
        assert_same({"a": [1.0, {"b": 2.0}]}, {"a": [1.0, {"b": 2.0 + 1e-6}]})
    with pytest.raises(AssertionError):
        assert_same({"a": None}, {"a": 0.0})


def test_sample_every_field_as_the_memory_engine(tmp_path, dask_scheduler):
    memory = run(tmp_path, "memory", SAMPLE, "--engine", "memory")
    dask = run(tmp_path, "dask", SAMPLE, "--engine", "dask", "--scheduler", dask_scheduler)
    assert_same(json.loads((dask / "r.json").read_text(encoding="utf-8")),
                json.loads((memory / "r.json").read_text(encoding="utf-8")))
    assert quarantined(dask / "r.rejected.csv") == quarantined(memory / "r.rejected.csv")
    assert len(quarantined(memory / "r.rejected.csv")) > 0


def test_text_files_in_spans_on_the_workers(tmp_path, dask_scheduler, monkeypatch):
    """The sample's CSV files cut into spans of 400 records (servqual.ingest.spans), read
    and checked on the workers: the memory engine's figures and quarantine, row for row,
    from the files read whole."""
    memory = run(tmp_path, "memory", SAMPLE, "--engine", "memory")
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "400")
    dask = run(tmp_path, "dask", SAMPLE, "--engine", "dask", "--scheduler", dask_scheduler)
    assert_same(json.loads((dask / "r.json").read_text(encoding="utf-8")),
                json.loads((memory / "r.json").read_text(encoding="utf-8")))
    assert (dask / "r.rejected.csv").read_bytes() == (memory / "r.rejected.csv").read_bytes()


def test_each_split_unit_as_the_memory_engine(tmp_path, dask_scheduler):
    """Each unit's report and quarantine byte for byte (a unit's figures are in its report
    only), on the last wave of the sample."""
    memory = run(tmp_path, "memory", SAMPLE[-1:], "--engine", "memory", "--split-by", "region")
    dask = run(tmp_path, "dask", SAMPLE[-1:], "--engine", "dask", "--scheduler", dask_scheduler,
               "--split-by", "region")
    assert_same(json.loads((dask / "r.json").read_text(encoding="utf-8")),
                json.loads((memory / "r.json").read_text(encoding="utf-8")))
    units = sorted(p.name for p in memory.glob("r.region-*"))
    assert len(units) == 10 and units == sorted(p.name for p in dask.glob("r.region-*"))
    for name in units:
        assert (dask / name).read_bytes() == (memory / name).read_bytes(), name


def test_parquet_dataset_by_row_groups(tmp_path, dask_scheduler, monkeypatch):
    """The sample as a Parquet dataset (a directory of files holding a wave column, small
    row groups, read a few at a time): the memory engine's figures from the CSV files."""
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    options = pacsv.ConvertOptions(column_types={"respondent_id": pa.string()},
                                   strings_can_be_null=False)
    for n, path in enumerate(SAMPLE):
        table = pacsv.read_csv(path, convert_options=options)
        table = table.append_column("wave", pa.array([path.stem] * table.num_rows))
        pq.write_table(table, dataset / f"part.{n}.parquet", row_group_size=400)
    (dataset / "_SUCCESS").write_bytes(b"")
    memory = run(tmp_path, "memory", SAMPLE, "--engine", "memory")
    monkeypatch.setenv("SERVQUAL_PART_ROWS", "1000")
    dask = run(tmp_path, "dask", [dataset], "--engine", "dask", "--scheduler", dask_scheduler)
    a = json.loads((dask / "r.json").read_text(encoding="utf-8"))
    b = json.loads((memory / "r.json").read_text(encoding="utf-8"))
    for doc in (a, b):  # the files differ by name and form; their rows must not
        doc["data_quality"].pop("files")
        doc.pop("inputs", None)
    assert_same(a, b)


def test_dataset_file_without_a_wave_column(tmp_path, dask_scheduler):
    inst, data = tiny(tmp_path)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    pq.write_table(pacsv.read_csv(data), dataset / "part.0.parquet")
    result = runner.invoke(app, ["report", str(dataset), "--instrument", str(inst),
                                 "--engine", "dask", "--scheduler", dask_scheduler,
                                 "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 65, result.output
    assert "part.0.parquet" in result.output and "wave" in result.output


def test_error_on_a_worker_names_the_file(tmp_path, dask_scheduler):
    """A file a worker cannot read stops the run as in memory: exit 65, file and row named,
    no traceback."""
    inst, good = tiny(tmp_path)
    bad = write(tmp_path / "2026Q2.csv", "nothing,like,the,header\n1,2,3,4\n")
    result = runner.invoke(app, ["report", str(good), str(bad), "--instrument", str(inst),
                                 "--engine", "dask", "--scheduler", dask_scheduler,
                                 "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 65, result.output
    assert "2026Q2.csv" in result.output and "Traceback" not in result.output


def test_scheduler_that_cannot_be_reached(tmp_path):
    import dask

    inst, data = tiny(tmp_path)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = runner.invoke(app, ["report", str(data), "--instrument", str(inst),
                                     "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9",
                                     "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 69, result.output
    assert "tcp://127.0.0.1:9" in result.output


@pytest.mark.parametrize("options", [["--engine", "dask", "--scheduler", "not an address"],
                                     ["--engine", "memory", "--scheduler", "tcp://h:8786"]])
def test_scheduler_option_misused(tmp_path, options):
    inst, data = tiny(tmp_path)
    result = runner.invoke(app, ["report", str(data), "--instrument", str(inst), *options,
                                 "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2, result.output
    assert "--scheduler" in result.output


def test_local_cluster_of_its_own(tmp_path):
    """Without --scheduler the engine starts a cluster of worker processes for the run and
    stops it; ``validate`` writes the quarantine the memory engine writes."""
    inst = write(tmp_path / "i.toml", TINY_INSTRUMENT)
    data = write(tmp_path / "2026Q3.csv", "id,region,E1,E2,E3,P1,P2,P3\n"
                 "r1,East,4,5,3,3,5,4\nr1,East,4,5,3,3,5,4\nr2,West,7,4,4,4,4,4\n")
    outs = {}
    for engine in ("memory", "dask"):
        outs[engine] = tmp_path / engine
        result = runner.invoke(app, ["validate", str(data), "--instrument", str(inst),
                                     "--engine", engine, "--out-dir", str(outs[engine])])
        assert result.exit_code == 0, result.output
    rejected = quarantined(outs["dask"] / "2026Q3.rejected.csv")
    assert rejected == quarantined(outs["memory"] / "2026Q3.rejected.csv")
    assert sorted(dict(r)["reason"] for r in rejected) == ["duplicate_respondent",
                                                          "out_of_scale"]
