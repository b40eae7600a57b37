from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Compiled templates go to a cache of the test session's own, not the user's (~/.cache).
_CACHE = tempfile.TemporaryDirectory(prefix="servqual-test-cache-")
os.environ["SERVQUAL_CACHE_DIR"] = _CACHE.name

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = sorted((ROOT / "surveys" / "sample").glob("20*.csv"))
INSTRUMENT = ROOT / "surveys" / "instrument.toml"


@pytest.fixture(scope="session")
def sample_results():
    """The bundled 8-wave sample, analysed once per test session as ``servqual report``
    analyses it, and its respondents as validation defines them."""
    from fixtures import run_and_check
    from servqual.instrument import load_instrument

    return run_and_check(SAMPLE, load_instrument(INSTRUMENT))


# --------------------------------------------------------------------------------------------
# The real browser: Debian's Chromium driven by Playwright (no browser download).

CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--no-default-browser-check"]


def chromium_executable() -> str | None:
    import shutil

    explicit = os.environ.get("SERVQUAL_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def browser_unavailable(reason: str):
    """Locally a browser test skips with the reason; in CI (env CI set) it fails."""
    if in_ci():
        pytest.fail(f"{reason}; browser tests must run in CI (.ci/run installs chromium)",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("playwright is not installed (pip install -e '.[test]')")
    executable = chromium_executable()
    if executable is None:
        browser_unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    args = list(CHROMIUM_ARGS)
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=args)
        yield instance
        instance.close()


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


# --------------------------------------------------------------------------------------------
# A Dask cluster of worker processes on this machine, for the Dask engine (--scheduler).

@pytest.fixture(scope="session")
def dask_scheduler():
    """The address of a ``distributed.LocalCluster`` of two worker processes, started once:
    the tests join it with ``--engine dask --scheduler ADDRESS`` as a user joins theirs."""
    distributed = pytest.importorskip("distributed", reason="pip install -e '.[test]'")
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def engine_options(request):
    """The command-line options that choose an engine: ``--engine NAME``, and for the Dask
    engine the address of the session's cluster."""
    def options(engine: str) -> list[str]:
        if engine != "dask":
            return ["--engine", engine]
        return ["--engine", "dask", "--scheduler", request.getfixturevalue("dask_scheduler")]
    return options
