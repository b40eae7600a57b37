from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = sorted((ROOT / "surveys" / "sample").glob("20*.csv"))
INSTRUMENT = ROOT / "surveys" / "instrument.toml"


@pytest.fixture(scope="session")
def sample_results():
    """The bundled 8-wave sample, analysed once per test session."""
    from servqual.instrument import load_instrument
    from servqual.pipeline import analyse

    return analyse(SAMPLE, load_instrument(INSTRUMENT))


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory):
    """The bundled 8-wave sample in a history store (servqual ingest), once per session."""
    from typer.testing import CliRunner

    from servqual.cli import app

    path = tmp_path_factory.mktemp("store") / "servqual.duckdb"
    result = CliRunner().invoke(app, ["ingest", *map(str, SAMPLE), "--instrument",
                                      str(INSTRUMENT), "--store", str(path)])
    assert result.exit_code == 0, result.output
    return path
