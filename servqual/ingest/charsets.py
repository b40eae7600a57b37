"""Which legacy encoding a text file is in, judged by how plausible its text reads.

Survey exports that are not UTF-8 come from spreadsheet programs saving in the code page of
their system: GB18030/GBK (simplified Chinese), Big5 (traditional Chinese), CP949 (Korean),
Shift-JIS as CP932 (Japanese) or CP1252 (Western European). Only these are candidates.
"Decodes without error" is not evidence: GB18030 decodes almost any byte string, and the
double-byte code pages share one byte layout (华东 in GBK is two Hangul syllables in CP949).

So each candidate's reading of the non-ASCII words is scored by a coarse model of the
language it is for: the share of that language's text each class of characters makes up,
spread evenly over the class (common hanzi of GB2312 level 1 for GB18030; Big5 level 1 for
Big5; the 2,350 Hangul syllables of KS X 1001 for CP949; kana and JIS level-1 kanji for
CP932; accented letters beside plain letters for CP1252). The reading with the highest
likelihood wins when it is plausible and ahead of every other by a clear margin
(:data:`MARGIN`); otherwise :func:`judge` raises a :class:`~servqual.errors.DataError` that
names the candidates and asks for the instrument's ``encoding``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from ..errors import DataError

CANDIDATES = ("gb18030", "big5", "cp949", "cp932", "cp1252")
# A reading must be this many times as likely as the next one (in nats: ln 100).
MARGIN = math.log(100)
# The share of the winner's non-ASCII characters that must be common in its language.
PLAUSIBLE = 0.6
_MAX_WORDS = 4000  # distinct words judged at most: plenty of evidence, bounded time

# A word: bytes that can never end or start a multi-byte character in any candidate are
# separators (ASCII controls, space, punctuation below '@' except the digits GB18030's
# four-byte sequences use); a word holds at least one byte above ASCII.
_WORD = re.compile(rb"[0-9\x40-\xff]*[\x80-\xff][0-9\x40-\xff]*")
# A byte after which a sample may be cut without cutting a character in two.
SEPARATOR = re.compile(rb"[\x00-\x2f\x3a-\x3f]")

_ASCII = math.log(1 / 40)  # a plain character inside a word: the same in every reading
# (share of the language's non-ASCII text, characters in the class); "common" classes count
# towards PLAUSIBLE.
_CLASSES: dict[str, dict[str, tuple[float, int]]] = {
    "gb18030": {"hanzi1": (0.90, 3755), "sym": (0.06, 260), "hanzi2": (0.02, 3008),
                "pinyin": (0.005, 60), "gb2312": (0.002, 420), "gbk": (0.01, 14000),
                "rest": (0.001, 50000)},
    "big5": {"hanzi1": (0.90, 5400), "sym": (0.06, 314), "hanzi2": (0.02, 7650),
             "a3": (0.005, 94), "ext": (0.002, 155), "rest": (0.001, 50000)},
    "cp949": {"hangul": (0.90, 2350), "sym": (0.06, 259), "uhc": (0.01, 8822),
              "hanja": (0.01, 4888), "jamo": (0.005, 94), "ks": (0.003, 635),
              "rest": (0.001, 50000)},
    "cp932": {"kana": (0.45, 170), "kanji1": (0.45, 2965), "sym": (0.06, 290),
              "kanji2": (0.01, 3390), "halfwidth": (0.005, 63), "jis": (0.003, 300),
              "ext": (0.002, 762), "rest": (0.001, 50000)},
    "cp1252": {"letter": (0.85, 64), "sym": (0.1, 30), "lone": (0.02, 64),
               "rest": (0.005, 60)},
}
_COMMON = {"gb18030": {"hanzi1", "sym"}, "big5": {"hanzi1", "sym"},
           "cp949": {"hangul", "sym"}, "cp932": {"kana", "kanji1", "sym"},
           "cp1252": {"letter", "sym"}}
_LOG = {enc: {c: math.log(share / size) for c, (share, size) in classes.items()}
        for enc, classes in _CLASSES.items()}
# How often each initial consonant, vowel and final consonant (none first) makes a Hangul
# syllable of Korean text, per thousand (counted in the Korean messages of free software):
# a Korean word is likelier than the syllables of Chinese bytes read as CP949 (华东: 빨떪).
_INITIAL = (70, 4, 59, 78, 4, 81, 42, 47, 1, 121, 2, 230, 87, 2, 21, 19, 29, 32, 71)
_MEDIAL = (198, 44, 4, 1, 101, 52, 48, 3, 82, 12, 1, 11, 20, 59, 4, 1, 8, 7, 146, 11, 189)
_FINAL = (545, 44, 1, 1, 108, 1, 6, 1, 101, 2, 1, 1, 1, 1, 1, 1, 34, 46, 16, 9, 11, 71, 1, 1,
          1, 2, 1, 1)
# Symbols Western text uses on their own (currency, degrees, quotes, dashes, fractions).
_WESTERN_SYMBOLS = set("€£¥¢°§©®™±²³¹µ¼½¾×÷‘’‚“”„«»–—…•·¡¿ªº¶\xa0")


def judge(sample: bytes, path: Path) -> str:
    """The encoding of ``sample`` (bytes that are not UTF-8) among :data:`CANDIDATES`.

    Raises
    ------
    DataError
        No candidate reads the non-ASCII words as plausible text, or several do about
        equally well: the message names the candidates and the instrument key ``encoding``.
    """
    words = list(dict.fromkeys(_WORD.findall(sample)))[:_MAX_WORDS]
    scores = {enc: s for enc in CANDIDATES if (s := score(words, enc)) is not None}
    ranked = sorted(scores, key=lambda e: -scores[e][0])
    if not ranked or scores[ranked[0]][1] < PLAUSIBLE:
        tried = ", ".join(CANDIDATES)
        raise DataError("its text is not UTF-8 and reads as no plausible text in any of the "
                        f"encodings tried ({tried}); name it in the instrument: "
                        'set encoding = "..." in [instrument]', file=path,
                        key="instrument.encoding")
    best = ranked[0]
    rivals = [e for e in ranked if scores[best][0] - scores[e][0] < MARGIN
              and scores[e][1] >= PLAUSIBLE]
    if len(rivals) > 1:
        raise DataError("cannot tell the text encoding: it reads as plausible text in "
                        f"{' and '.join(rivals)}; name it in the instrument: set encoding = "
                        f'"{best}" in [instrument] (or one of the others)', file=path,
                        key="instrument.encoding")
    return best


def score(words: list[bytes], encoding: str) -> tuple[float, float] | None:
    """The log-likelihood of ``encoding``'s reading of ``words`` and the share of its
    non-ASCII characters that are common in the language; ``None`` when a word does not
    decode."""
    log = _LOG[encoding]
    total, common, chars = 0.0, 0, 0
    for word in words:
        try:
            text = word.decode(encoding)
        except UnicodeDecodeError:
            return None
        for i, ch in enumerate(text):
            if ch < "\x80":
                total += _ASCII
                continue
            kind = (_western(text, i) if encoding == "cp1252"
                    else _kind(ch, encoding))
            total += _hangul(ch) if kind == "hangul" else log[kind]
            common += kind in _COMMON[encoding]
            chars += 1
    return total, common / chars if chars else 0.0


def _jamo(ch: str) -> float:
    n = ord(ch) - 0xAC00
    return _INITIAL[n // 588] * _MEDIAL[n // 28 % 21] * _FINAL[n % 28]


@lru_cache(maxsize=1)
def _ks_total() -> float:
    """The sum of :func:`_jamo` over the 2,350 Hangul syllables of KS X 1001."""
    syllables = map(chr, range(0xAC00, 0xD7A4))
    return sum(_jamo(ch) for ch in syllables if _kind(ch, "cp949") == "hangul")


@lru_cache(maxsize=1 << 14)
def _hangul(ch: str) -> float:
    """The log-probability of a KS X 1001 syllable in Korean text."""
    return math.log(_CLASSES["cp949"]["hangul"][0] * _jamo(ch) / _ks_total())


def _western(text: str, i: int) -> str:
    """The class of ``text[i]`` read as CP1252: letters of Western words stand beside plain
    letters, one or two at a time; symbols stand alone."""
    ch = text[i]
    start, end = i, i + 1
    while start > 0 and text[start - 1] >= "\x80":
        start -= 1
    while end < len(text) and text[end] >= "\x80":
        end += 1
    run = end - start
    if unicodedata.category(ch).startswith("L"):
        beside = [text[j] for j in (start - 1, end) if 0 <= j < len(text)]
        if run <= 2 and any(c.isascii() and c.isalpha() for c in beside):
            return "letter"
        return "lone"
    return "sym" if run == 1 and ch in _WESTERN_SYMBOLS else "rest"


@lru_cache(maxsize=1 << 16)
def _kind(ch: str, encoding: str) -> str:
    """The class of character ``ch`` in the language of ``encoding`` (not CP1252)."""
    if unicodedata.category(ch).startswith("C"):
        return "rest"  # controls, private use, unassigned
    return _KINDS[encoding](ch)


def _code(ch: str, encoding: str) -> bytes:
    try:
        return ch.encode(encoding)
    except UnicodeEncodeError:
        return b""


def _ideograph(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def _gb(ch: str) -> str:
    code = _code(ch, "gb2312")
    if len(code) == 2:
        lead = code[0]
        if 0xB0 <= lead <= 0xD7:
            return "hanzi1"
        if 0xD8 <= lead <= 0xF7:
            return "hanzi2"
        if lead <= 0xA3:
            return "sym"
        return "pinyin" if lead == 0xA8 else "gb2312"
    return "gbk" if len(_code(ch, "gbk")) == 2 else "rest"


def _big5(ch: str) -> str:
    code = _code(ch, "big5")
    if len(code) != 2:
        return "rest"
    lead, trail = code
    if _ideograph(ch):
        if 0xA4 <= lead <= 0xC5 or (lead == 0xC6 and trail <= 0x7E):
            return "hanzi1"
        return "hanzi2" if 0xC9 <= lead else "ext"
    if lead <= 0xA2:
        return "sym"
    return "a3" if lead == 0xA3 else "ext"


def _korean(ch: str) -> str:
    code = _code(ch, "cp949")
    if len(code) != 2:
        return "rest"
    lead = code[0]
    if "\uac00" <= ch <= "\ud7a3":
        return "hangul" if 0xB0 <= lead <= 0xC8 else "uhc"
    if _ideograph(ch):
        return "hanja"
    if lead <= 0xA3:
        return "sym"
    return "jamo" if lead == 0xA4 else "ks"


def _japanese(ch: str) -> str:
    if "\u3041" <= ch <= "\u30fe":
        return "kana"
    if "\uff61" <= ch <= "\uff9f":
        return "halfwidth"
    code = _code(ch, "cp932")
    if len(code) != 2:
        return "rest"
    lead, trail = code
    if _ideograph(ch):
        if 0x88 <= lead <= 0x97 or (lead == 0x98 and trail <= 0x72):
            return "kanji1"
        return "kanji2" if lead <= 0xEA else "ext"
    if lead <= 0x82:
        return "sym"
    return "jis" if lead <= 0x87 else "ext"


_KINDS = {"gb18030": _gb, "big5": _big5, "cp949": _korean, "cp932": _japanese}


def utf16_without_bom(sample: bytes) -> str | None:
    """``"utf-16-le"`` or ``"utf-16-be"`` when ``sample`` is UTF-16 text without a byte-order
    mark: the zero high bytes of its ASCII characters (digits, delimiters, line breaks) all
    fall on one side of each pair. Text in any candidate code page holds no zero byte."""
    zeros = sample.count(b"\x00")
    if zeros < 2:
        return None
    even, odd = sample[0::2].count(b"\x00"), sample[1::2].count(b"\x00")
    if min(even, odd) * 20 > max(even, odd) or max(even, odd) * 8 < len(sample) // 2:
        return None
    encoding = "utf-16-le" if odd > even else "utf-16-be"
    text = sample[:len(sample) // 2 * 2].decode(encoding, errors="replace")[:-1]  # may be cut
    odd_ones = sum(c == "\ufffd" or (unicodedata.category(c) == "Cc" and c not in "\t\r\n")
                   for c in text)
    return encoding if odd_ones * 100 <= len(text) else None
