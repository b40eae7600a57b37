"""Languages of the report: gettext catalogs and locale-aware number formatting.

Report text is English in the templates and translated through gettext catalogs in
``reports/locale/<locale>/LC_MESSAGES/messages.po`` (edit them with any PO editor; the
catalog is compiled in memory at run time, so no build step is needed).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import cache

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

from ..errors import UsageError
from ..resources import locale_dir

# Report language (as on the command line) → (gettext catalog, Babel locale, HTML lang).
LANGUAGES = {
    "en": ("en", "en_US", "en"),
    "zh-CN": ("zh_CN", "zh_Hans_CN", "zh-CN"),
}
MISSING = "–"


@dataclass(frozen=True)
class Language:
    code: str
    catalog: str
    locale: Locale
    html_lang: str


def language(code: str) -> Language:
    if code not in LANGUAGES:
        raise UsageError(f"unknown report language {code!r}; use one of {', '.join(LANGUAGES)}")
    catalog, locale, html_lang = LANGUAGES[code]
    return Language(code, catalog, Locale.parse(locale), html_lang)


@cache
def translations(code: str) -> NullTranslations:
    """The gettext translations of a report language (English needs none)."""
    lang = language(code)
    po = locale_dir() / lang.catalog / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang.catalog)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer)


class Numbers:
    """Number formatting for one locale; ``None`` and NaN print as an en dash."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale

    @staticmethod
    def _missing(x) -> bool:
        return x is None or (isinstance(x, float) and not math.isfinite(x))

    def num(self, x, digits: int = 2) -> str:
        """A true minus sign, and no "−0.00": what rounds to zero prints as zero."""
        if self._missing(x):
            return MISSING
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        x = 0.0 if round(x, digits) == 0 else x
        return format_decimal(x, format=pattern, locale=self.locale).replace("-", "\u2212")

    def signed(self, x, digits: int = 2) -> str:
        """With an explicit sign: gaps read +0.12 / −0.34 (a true minus sign)."""
        if self._missing(x):
            return MISSING
        body = self.num(abs(x), digits)
        if round(x, digits) == 0:
            return body
        return ("+" if x > 0 else "\u2212") + body

    def integer(self, x) -> str:
        return MISSING if self._missing(x) else format_decimal(int(x), format="#,##0",
                                                                locale=self.locale)

    def percent(self, x, digits: int = 0) -> str:
        if self._missing(x):
            return MISSING
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(x, format=pattern, locale=self.locale)

    def pvalue(self, p) -> str:
        if self._missing(p):
            return MISSING
        if p < 0.001:
            return "< " + self.num(0.001, 3)
        return self.num(p, 3)
