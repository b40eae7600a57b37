"""Languages of the report: its locale and locale-aware number formatting.

Report text is English in the templates and translated through the gettext catalogs of
:mod:`servqual.translations`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from babel import Locale
from babel.numbers import format_decimal, format_percent

from ..translations import LANGUAGES, check_language

MISSING = "–"


@dataclass(frozen=True)
class Language:
    code: str
    catalog: str
    locale: Locale
    html_lang: str


def language(code: str) -> Language:
    check_language(code)
    catalog, locale, html_lang = LANGUAGES[code]
    return Language(code, catalog, Locale.parse(locale), html_lang)


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
