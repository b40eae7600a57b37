"""The report as PDF (``--pdf``), printed by headless Chromium with the print stylesheet.

No browser is downloaded: the one installed on the machine prints (Debian's ``chromium``,
Google Chrome, or the executable named by ``SERVQUAL_CHROMIUM``). Without one, ``--pdf``
fails before any work with a message naming what it looked for (exit 73: the output
cannot be written).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import OutputError

BROWSER_ENV = "SERVQUAL_CHROMIUM"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# Window width for drawing the charts before printing: they then fit an A4 or Letter page.
PRINT_WINDOW = "720,1200"
TIMEOUT_SECONDS = 180


class BrowserMissing(OutputError):
    """``--pdf`` was asked for but no Chromium-family browser is installed."""


def find_browser() -> str:
    """The browser that prints PDFs; :class:`BrowserMissing` when there is none."""
    explicit = os.environ.get(BROWSER_ENV)
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise BrowserMissing(f"--pdf: {BROWSER_ENV}={explicit!r} is not an executable "
                                 "browser")
        return path
    for name in BROWSERS:
        path = shutil.which(name)
        if path is not None:
            return path
    raise BrowserMissing(
        "--pdf needs the Chromium browser (or Google Chrome) to print the report, and none "
        f"was found: looked for {', '.join(BROWSERS)} on PATH. Install it (Debian: "
        f"apt-get install chromium) or set {BROWSER_ENV} to its path; the HTML report "
        "prints to PDF from any browser, too.")


def browser_args(browser: str, profile: str) -> list[str]:
    """Headless Chromium that makes no network connection of its own."""
    args = [browser, "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return args


def print_pdf(html: str, dest: Path, browser: str) -> None:
    """Print the HTML report to ``dest`` (a staged output path) with the print stylesheet."""
    with tempfile.TemporaryDirectory(prefix="servqual-pdf-") as work:
        page = Path(work) / "report.html"
        page.write_text(html, encoding="utf-8")
        profile = Path(work) / "profile"
        profile.mkdir()
        args = browser_args(browser, str(profile)) + [
            "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=10000", f"--window-size={PRINT_WINDOW}",
            f"--print-to-pdf={dest}", page.as_uri()]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, check=False,
                                  timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as err:
            raise OutputError(f"{browser} did not finish printing the PDF within "
                              f"{TIMEOUT_SECONDS} s", file=dest) from err
        except OSError as err:
            raise BrowserMissing(f"--pdf: cannot start {browser}: {err.strerror}") from err
    if proc.returncode != 0 or not dest.exists() or dest.stat().st_size == 0:
        detail = (proc.stderr or "").strip().splitlines()[-1:] or ["no message"]
        raise OutputError(f"{browser} could not print the PDF (exit {proc.returncode}: "
                          f"{detail[0]})", file=dest)
