"""The words a user reads, in each language: gettext catalogs, one per language.

The report's templates and the terminal's tables (``servqual trend``) write English and are
translated through ``reports/locale/<catalog>/LC_MESSAGES/messages.po`` (edit it with any PO
editor; ``make catalog`` adds new messages). The catalog is compiled in memory when first
used, so no build step is needed. This module loads no report machinery (no plotly, no
pandas): ``servqual trend`` answers in a fraction of a second.
"""

from __future__ import annotations

import io
import re
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


def _cjk(char: str) -> bool:
    """A Chinese character or full-width punctuation (CJK, its symbols, full-width forms)."""
    return ("\u3000" <= char <= "\u303f" or "\u3400" <= char <= "\u4dbf"
            or "\u4e00" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef")


def tighten(message: str, variables: dict) -> str:
    """Drop the space a translation puts around a placeholder where Chinese meets Chinese.

    Chinese is written without spaces between words but with a space beside Latin words and
    numbers, so the catalog writes ``按 %(column)s 统计的问卷数``: right for ``region``, wrong
    for ``区域`` (``按区域统计的问卷数``). A space of the message itself is dropped when the
    character on its other side and the value's first (or last) character are both Chinese;
    the values themselves are never changed.
    """
    drop: set[int] = set()
    for found in re.finditer(r"%\((\w+)\)s", message):
        value = str(variables.get(found.group(1), ""))
        if not value:
            continue
        start, end = found.span()
        if (start >= 2 and message[start - 1] == " " and _cjk(message[start - 2])
                and _cjk(value[0])):
            drop.add(start - 1)
        if (end + 1 < len(message) and message[end] == " " and _cjk(message[end + 1])
                and _cjk(value[-1])):
            drop.add(end)
    return "".join(c for i, c in enumerate(message) if i not in drop) if drop else message
