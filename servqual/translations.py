"""The words a user reads, in each language: gettext catalogs, one per language.

The report's templates and the terminal's tables (``servqual trend``) write English and are
translated through ``reports/locale/<catalog>/LC_MESSAGES/messages.po`` (edit it with any PO
editor; ``make catalog`` adds new messages). The catalog is compiled in memory when first
used, so no build step is needed. This module loads no report machinery (no plotly, no
pandas): ``servqual trend`` answers in a fraction of a second.
"""

from __future__ import annotations

import io
from functools import cache

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from .errors import UsageError
from .resources import locale_dir

# Language (as on the command line) → (gettext catalog, Babel locale, HTML lang).
LANGUAGES = {
    "en": ("en", "en_US", "en"),
    "zh-CN": ("zh_CN", "zh_Hans_CN", "zh-CN"),
}


def check_language(code: str) -> None:
    if code not in LANGUAGES:
        raise UsageError(f"unknown language {code!r}; use one of {', '.join(LANGUAGES)}")


@cache
def translations(code: str) -> NullTranslations:
    """The gettext translations of a language (English needs none)."""
    check_language(code)
    catalog = LANGUAGES[code][0]
    po = locale_dir() / catalog / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        messages = read_po(fh, locale=catalog)
    buffer = io.BytesIO()
    write_mo(buffer, messages, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)
