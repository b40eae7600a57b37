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
