"""The wheel carries the report templates and finds them once installed."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_ships_templates_and_catalogs_and_finds_them(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("servqual-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "site")
    for name in ("servqual/_reports/templates/base.html",
                 "servqual/_reports/templates/report.html",
                 "servqual/_reports/locale/zh_CN/LC_MESSAGES/messages.po",
                 "servqual/cli.py"):
        assert name in names, name
    # From the installed wheel (not the source checkout), templates resolve inside the package.
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    probe = subprocess.run(
        [sys.executable, "-c", "import servqual.resources as r; print(r.templates_dir())"],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == str(tmp_path / "site" / "servqual" / "_reports" / "templates")


def test_the_readme_architecture_names_every_module():
    """README's Architecture is where a newcomer looks a rule up: every module is named."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Architecture"):]
    section = section[:section.index("\n## ", 5)]
    modules = [p for p in (ROOT / "servqual").rglob("*.py") if p.name != "__init__.py"]
    assert len(modules) > 50
    unnamed = [str(p.relative_to(ROOT)) for p in modules
               if p.name not in section and f"{p.stem}/" not in section and
               f" {p.stem} " not in section]
    assert unnamed == []
