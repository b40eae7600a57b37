"""The process settings of command-line runs (servqual/tuning.py)."""

import gc
import json
import platform
import subprocess
import sys

import pytest

from servqual import tuning


def _in_fresh_process(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PATH": "/usr/bin:/bin"}).stdout
    return json.loads(out.splitlines()[-1])  # the last line: a command may print before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_a_fresh_command_line_process_takes_every_setting():
    code = ("import gc, json, os\n"
            "from servqual.tuning import tune_process\n"
            "done = tune_process()\n"
            "import numpy, pyarrow\n"
            "print(json.dumps({'done': done, 'gc': gc.get_threshold(), 'env': ["
            "os.environ['MIMALLOC_PURGE_DELAY'], os.environ['OPENBLAS_NUM_THREADS']]}))")
    got = _in_fresh_process(code)
    # mallopt returns 0 for a parameter or value glibc refuses
    assert got["done"] == {"environment": True, "malloc": True, "gc": True}
    assert tuple(got["gc"]) == tuning._GC_THRESHOLDS
    assert got["env"] == ["-1", "1"]


def test_settings_the_user_made_win_and_late_calls_say_so(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("MIMALLOC_PURGE_DELAY", raising=False)  # restored (unset) after
    before = gc.get_threshold()
    try:
        done = tuning.tune_process()  # numpy is loaded in the test process already
    finally:
        gc.set_threshold(*before)
    assert done["environment"] is False
    assert tuning.os.environ["OPENBLAS_NUM_THREADS"] == "4"


def test_other_systems_keep_their_malloc(monkeypatch):
    monkeypatch.setattr(tuning.sys, "platform", "darwin")
    assert tuning.keep_freed_memory() is False


def test_the_command_line_exempts_what_is_alive_from_the_shutdown_collections():
    code = ("import gc, json, sys\n"
            "from servqual.cli import main\n"
            "sys.argv = ['servqual', '--version']\n"
            "try:\n"
            "    main()\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(json.dumps({'frozen': gc.get_freeze_count()}))")
    got = _in_fresh_process(code)
    assert got["frozen"] > 1000  # the imported modules' objects, at least
