"""The reports to send: servqual's HTML reports, each carrying what distribution needs.

Every report servqual writes holds, as JSON data (never run), its wave, language, unit (the
``--split-by`` column and value, or none for the overall report) and its e-mail summary
(:func:`servqual.report.mail_summary`). So ``servqual distribute REPORT_DIR`` sends reports
written earlier exactly as ``servqual report --distribute`` sends those it has just written:
both read them here. A report's hash (SHA-256 of its bytes) identifies what was delivered.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, InputFileError
from ..waves import sort_waves
from .config import OVERALL

_DATA = re.compile(r'<script type="application/json" id="servqual-mail">(.*?)</script>', re.S)


@dataclass(frozen=True)
class Report:
    path: Path
    digest: str  # SHA-256 of the file
    wave: str
    lang: str
    unit: str  # the --split-by value, or "all" for the overall report
    column: str  # the --split-by column ("" for the overall report)
    unit_label: str  # the unit as readers see it, in the report's language
    organisation: str
    instrument: str
    summary_html: str
    summary_text: str

    @property
    def pdf(self) -> Path:
        return self.path.with_suffix(".pdf")


def read_report(path: Path) -> Report | None:
    """The report at ``path``, or None when it is not a servqual report (another HTML file)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputFileError(f"cannot read the report: {err.strerror}", file=path) from None
    found = _DATA.search(raw.decode("utf-8", errors="replace"))
    if found is None:
        return None
    try:
        data = json.loads(found.group(1))  # Jinja's tojson: <, > and & as \u escapes
    except json.JSONDecodeError:
        raise DataError("the report's distribution data is damaged: write the report again",
                        file=path) from None
    unit = data.get("unit") or None
    return Report(path=path, digest=hashlib.sha256(raw).hexdigest(), wave=str(data["wave"]),
                  lang=str(data["lang"]), unit=str(unit["value"]) if unit else OVERALL,
                  column=str(unit["column"]) if unit else "",
                  unit_label=str(data.get("unit_label") or ""),
                  organisation=str(data.get("organisation") or ""),
                  instrument=str(data.get("instrument") or ""),
                  summary_html=str(data["html"]), summary_text=str(data["text"]))


def find_reports(paths: list[Path]) -> list[Report]:
    """The servqual reports among ``paths`` (files, or folders whose *.html files are read),
    of the latest wave found: a folder may still hold last quarter's reports."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in (".html", ".htm"))
        elif path.is_file():
            files.append(path)
        else:
            raise InputFileError("no such report or folder", file=path)
    reports = [r for r in (read_report(p) for p in files) if r is not None]
    if not reports:
        raise DataError("no servqual report found (write them with servqual report "
                        "--split-by COLUMN)", file=paths[0] if len(paths) == 1 else None)
    latest = sort_waves(sorted({r.wave for r in reports}))[-1]
    return [r for r in reports if r.wave == latest]
