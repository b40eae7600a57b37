"""Delimited text as real files come: legacy encodings told by how plausible their text
reads (or a clean stop naming the candidates), a stray quote that must not swallow the rest
of the file, and CR-only or mixed line endings. Each test drives the command line."""

from __future__ import annotations

import codecs
import random
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import INSTRUMENT, ROOT
from fixtures import TINY_INSTRUMENT, replace_in_instrument, write
from servqual.cli import app
from servqual.ingest import read_table
from servqual.instrument import load_instrument

SAMPLE_WAVE = ROOT / "surveys" / "sample" / "2025Q4.csv"
HEADER = "id,region,E1,E2,E3,P1,P2,P3"


def validate(*args: str):
    return CliRunner().invoke(app, ["validate", *map(str, args)])


def survey(tmp_path: Path, regions: list[str], encoding: str, name: str = "2026Q3.csv",
           instrument: str = TINY_INSTRUMENT) -> tuple[Path, Path]:
    """The tiny instrument and a wave with one respondent per region (the last one out of
    scale, so that the quarantine shows its region as read), saved in ``encoding``."""
    inst = write(tmp_path / "instrument.toml", instrument)
    rows = [f"r{n},{region},4,5,3,3,5,4" for n, region in enumerate(regions)]
    rows[-1] = rows[-1][:-1] + "8"
    data = tmp_path / name
    data.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return inst, data


def regions_read(inst: Path, data: Path) -> list[str]:
    raw = read_table(data, load_instrument(inst))
    return raw.frame["region"].astype(str).tolist()


def quarantined(out_dir: Path, data: Path) -> pd.DataFrame:
    return pd.read_csv(out_dir / f"{data.stem}.rejected.csv", encoding="utf-8-sig",
                       dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------
# Encodings


def test_sample_wave_saved_as_gbk_is_not_read_as_thai(tmp_path):
    # Excel on Chinese Windows saves CSV in GBK: the segment values (核心, 面谈 …) must come
    # through exactly as in the UTF-8 original, not as cp874 mojibake.
    gbk = tmp_path / "gbk" / SAMPLE_WAVE.name
    gbk.parent.mkdir()
    gbk.write_bytes(SAMPLE_WAVE.read_text(encoding="utf-8").encode("gbk"))
    utf8_out, gbk_out = tmp_path / "utf8-out", tmp_path / "gbk-out"
    assert validate(SAMPLE_WAVE, "--instrument", INSTRUMENT, "--out-dir", utf8_out).exit_code == 0
    result = validate(gbk, "--instrument", INSTRUMENT, "--out-dir", gbk_out)
    assert result.exit_code == 0, result.output
    assert "rows_read 1484 = rows_valid 1476 + rows_quarantined 8" in result.output
    want, got = quarantined(utf8_out, SAMPLE_WAVE), quarantined(gbk_out, gbk)
    pd.testing.assert_frame_equal(got.drop(columns="source_file"),
                                  want.drop(columns="source_file"))
    assert {"重要", "常规"} <= set(got["customer_class"])
    instrument = load_instrument(INSTRUMENT)
    original = read_table(SAMPLE_WAVE, instrument).frame
    read = read_table(gbk, instrument)
    assert read.encoding == "gb18030"
    for column in ("customer_class", "region", "survey_mode"):
        assert read.frame[column].astype(str).tolist() == original[column].astype(str).tolist()
    assert set(read.frame["survey_mode"].astype(str)) >= {"面谈", "电话", "网络"}


@pytest.mark.parametrize("encoding,regions", [
    ("big5", ["臺北市", "新竹縣", "高雄市", "臺中市", "桃園市", "面談", "電話", "網路"]),
    ("cp949", ["서울", "부산", "대구", "인천", "광주", "대면", "전화", "온라인"]),
    ("cp932", ["東京都", "大阪府", "名古屋", "福岡県", "対面", "電話", "ウェブ"]),
    ("cp1252", ["Zürich", "Café", "Crème", "Genève", "Malmö"]),
])
def test_legacy_code_page_is_told_by_its_text(tmp_path, encoding, regions):
    inst, data = survey(tmp_path, regions, encoding)
    out = tmp_path / "out"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    n = len(regions)
    assert f"rows_read {n} = rows_valid {n - 1} + rows_quarantined 1" in result.output
    assert quarantined(out, data).loc[0, "region"] == regions[-1]
    assert regions_read(inst, data) == regions


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_or_without_byte_order_mark_is_read(tmp_path, encoding):
    regions = ["华东", "华南", "Zürich", "서울", "West"]
    inst, data = survey(tmp_path, regions, encoding)
    if encoding != "utf-16":
        assert not data.read_bytes().startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    out = tmp_path / "out"
    result = validate(data, "--instrument", inst, "--out-dir", out)
    assert result.exit_code == 0, result.output
    assert "rows_read 5 = rows_valid 4 + rows_quarantined 1" in result.output
    assert regions_read(inst, data) == regions


def test_too_little_evidence_to_tell_the_encoding_stops_naming_the_candidates(tmp_path):
    # 华南 in GBK is also two common characters in Big5 (貌鰍): one word cannot decide.
    inst, data = survey(tmp_path, ["East", "华南"], "gbk")
    result = validate(data, "--instrument", inst, "--out-dir", tmp_path / "out")
    assert result.exit_code == 65, result.output
    message = " ".join(result.output.split())
    assert str(data.name) in message and "encoding" in message
    assert "gb18030" in message and "big5" in message
    assert 'set encoding = "gb18030" in [instrument]' in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    # Named in the instrument, the file is read.
    named = replace_in_instrument('segments = ["region"]',
                                  'segments = ["region"]\nencoding = "gb18030"')
    write(inst, named)
    assert regions_read(inst, data) == ["East", "华南"]


def test_bytes_that_read_as_no_plausible_text_stop_the_run(tmp_path):
    rng = random.Random(7)
    noise = [bytes(rng.choice(range(0x80, 0x100)) for _ in range(9)) for _ in range(6)]
    inst = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    data = tmp_path / "2026Q3.csv"
    data.write_bytes(HEADER.encode() + b"\n" + b"".join(
        b"r%d,%s,4,5,3,3,5,4\n" % (n, word) for n, word in enumerate(noise)))
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65, result.output
    message = " ".join(result.output.split())
    assert "2026Q3.csv" in message and "no plausible text" in message
    assert "gb18030, big5, cp949, cp932, cp1252" in message and "set encoding" in message


def test_legacy_bytes_late_in_the_file_are_judged_by_the_same_rule(tmp_path):
    # The first 64 KiB are ASCII; Korean further on must not be read as Chinese.
    filler = [f"x{i},East,4,4,4,4,4,4" for i in range(4000)]
    korean = ["서울", "부산", "대구", "인천", "광주", "대면", "전화", "온라인"]
    inst, data = survey(tmp_path, ["East", *korean], "cp949")
    lines = data.read_bytes().split(b"\n")
    data.write_bytes(b"\n".join(lines[:2] + [f.encode() for f in filler] + lines[2:]))
    result = validate(data, "--instrument", inst, "--out-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert regions_read(inst, data)[-len(korean):] == korean
    # Too little evidence there stops the run as it does at the start.
    inst, data = survey(tmp_path, ["East", "华南"], "gbk")
    lines = data.read_bytes().split(b"\n")
    data.write_bytes(b"\n".join(lines[:2] + [f.encode() for f in filler] + lines[2:]))
    result = validate(data, "--instrument", inst)
    assert result.exit_code == 65 and "big5" in result.output, result.output


def test_named_encoding_still_wins_over_detection(tmp_path):
    named = replace_in_instrument('segments = ["region"]',
                                  'segments = ["region"]\nencoding = "cp949"')
    # Chinese bytes read as Korean on purpose: the instrument says so.
    inst, data = survey(tmp_path, ["华东", "华东"], "gbk", instrument=named)
    assert regions_read(inst, data) == ["华东".encode("gbk").decode("cp949")] * 2
