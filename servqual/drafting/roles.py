"""What each column of a survey is, as ``servqual init`` decides it: the respondent id, the
timestamp, the wave, segment candidates, the overall rating, and the expectation, perception
and importance of each item.

Items are found by their columns' names and header texts, in this order:

* codes: ``E01``/``P01``/``I01``, ``exp_1``/``perc_1``, ``Q1E``/``Q1P``, ``期望1``/``感知1``
  (``实际1``), paired by their number;
* words: a name or question text naming its role (expectation, 期望, 应该 … / perception,
  actual, 感知, 实际 … / importance, 重要), paired by what is left of the text (a Qualtrics
  matrix's statement after " - ", or the text without the role words);
* the same text twice among the answer columns (a 问卷星 matrix repeats its row labels for
  the expectation block and then the perception block): the first is the expectation.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from ..instrument.answers import answer_key
from .answers import NO_ANSWER_NUMBERS, is_answer_text
from .survey import Column

ROLES = ("expectation", "perception", "importance")
_STRAY = 0.02  # share of an answer column's cells that may be something else
_CODE = re.compile(r"^(?P<role>e|exp|expect|expectation|p|perc|percep|perception|i|imp|"
                   r"importance|期望|感知|实际|重要|重要性)[\s_.\-]*(?P<n>\d+)$", re.I)
_CODE_AFTER = re.compile(r"^q?(?P<n>\d+)[\s_.\-]*(?P<role>e|p|i)$", re.I)
_WORDS = {
    "expectation": ("expect", "期望", "期待", "应该", "应当", "ideal", "should"),
    "perception": ("percep", "actual", "experience", "感知", "实际", "感受", "体验",
                   "performance", "表现", "perceived"),
    "importance": ("importan", "重要"),
}
_SEPARATORS = re.compile(r"\s+[-–—:：]\s+|\s*——\s*|[:：]\s*")
ID_NAMES = ("respondent_id", "respondentid", "respondent id", "responseid", "response id",
            "responseid", "_recordid", "id", "序号", "答卷编号", "编号", "受访者编号")
EMAIL_NAMES = ("email address", "email", "e-mail", "电子邮件地址", "邮箱", "電子郵件地址")
TIME_NAMES = ("timestamp", "时间戳记", "時間戳記", "提交答卷时间", "submitdate", "startdate",
              "enddate", "recordeddate", "datestamp", "开始时间", "结束时间", "所用时间",
              "start date", "end date", "recorded date")
WAVE_NAMES = ("wave", "波次", "期次", "季度", "quarter", "period")
OVERALL = re.compile(r"(overall.*satisf|satisf.*overall|总体满意|整体满意)", re.I)


@dataclass
class Item:
    key: str
    columns: dict[str, Column]  # role → column
    how: str  # "codes", "words" or "repeated text"

    @property
    def text(self) -> str:
        """The statement: a question text's last part (after " - "), else the names."""
        column = self.columns["perception"]
        texts = [h for h in column.header if h]
        statement = _SEPARATORS.split(texts[-1])[-1].strip() if texts else ""
        if statement:
            return statement
        names = [self.columns[r].name for r in ("expectation", "perception") if r in self.columns]
        return names[0] if len(set(names)) == 1 else " / ".join(names)


def role_of_name(name: str) -> tuple[str, str] | None:
    """(role, number) of a coded column name such as E01, exp_1, Q1P or 感知1."""
    found = _CODE.match(name.strip()) or _CODE_AFTER.match(name.strip())
    if not found:
        return None
    word = found.group("role").casefold()
    role = ("expectation" if word[0] == "e" or word == "期望" else
            "importance" if word[0] == "i" or word.startswith("重要") else "perception")
    return role, str(int(found.group("n")))


def role_of_text(text: str) -> tuple[str, str] | None:
    """(role, statement) of a column whose name or question text names its role."""
    folded = text.casefold()
    hits = [r for r, words in _WORDS.items() if any(w in folded for w in words)]
    if len(hits) != 1:
        return None
    parts = [p for p in _SEPARATORS.split(text) if p.strip()]
    rest = [p for p in parts if not any(w in p.casefold() for w in _WORDS[hits[0]])]
    statement = rest[-1] if rest else text
    for word in _WORDS[hits[0]]:
        statement = re.sub(re.escape(word) + r"\w*", "", statement, flags=re.I)
    key = answer_key(re.sub(r"[\s_.\-()（）]+", " ", statement)).strip()
    return (hits[0], key) if key else None


def is_answer_column(column: Column) -> bool:
    """Whether a column holds answers: whole numbers of a small range (or "no answer" codes),
    or answer texts, filled for some respondents."""
    if not column.filled:
        return False
    numbers = [v for v in column.numbers if v not in NO_ANSWER_NUMBERS]
    odd = sum(not (float(v).is_integer() and 0 <= v <= 11) for v in numbers)
    odd += sum(not is_answer_text(t) for t in column.texts)
    return odd <= _STRAY * column.filled  # a few typing errors are the quarantine's


def find_items(columns: list[Column], answers: list[Column]) -> list[Item]:
    """Items from the answer columns: by codes, then by words, then by repeated texts."""
    items: dict[str, Item] = {}
    left = list(answers)
    for how, keyed in (("codes", lambda c: role_of_name(c.name)),
                       ("words", lambda c: role_of_text(c.described))):
        found: dict[str, dict[str, Column]] = defaultdict(dict)
        for column in left:
            role_key = keyed(column)
            if role_key is not None and role_key[0] not in found[role_key[1]]:
                found[role_key[1]][role_key[0]] = column
        for key, roles in found.items():
            if "perception" in roles:  # without an expectation: a SERVPERF item
                items[f"{how}:{key}"] = Item(key, roles, how)
        used = {id(c) for item in items.values() for c in item.columns.values()}
        left = [c for c in left if id(c) not in used]
    by_text: dict[str, list[Column]] = defaultdict(list)
    for column in left:
        by_text[answer_key(column.name)].append(column)
    reserved = {*ID_NAMES, *EMAIL_NAMES, *TIME_NAMES, *WAVE_NAMES}
    for text, same in by_text.items():
        if len(same) in (2, 3) and text and text not in reserved:
            roles = dict(zip(ROLES, same))
            items[f"repeated:{text}"] = Item(text, roles, "repeated text")
    return sorted(items.values(), key=lambda i: min(c.position for c in i.columns.values()))


def find_named(columns: list[Column], names: tuple[str, ...]) -> Column | None:
    for column in columns:
        if answer_key(column.name) in names:
            return column
    return None


def find_id(columns: list[Column]) -> tuple[Column | None, bool]:
    """The respondent id column, and whether it is an e-mail address (people resubmit a
    form: the last submission is kept)."""
    for names, email in ((ID_NAMES, False), (EMAIL_NAMES, True)):
        for column in columns:
            if answer_key(column.name) in names and column.filled:
                distinct = len(set(column.values.dropna().astype(str)))
                if email or distinct >= 0.95 * column.filled:
                    return column, email
    return None, False


def segment_candidates(columns: list[Column], taken: set[int]) -> list[Column]:
    """Text columns of a few short values each (region, customer class, channel). A name the
    header repeats cannot name a segment (segments are named, not placed), nor can a blank."""
    out = []
    names = Counter(c.name for c in columns)
    for column in columns:
        if column.position in taken or column.numbers.size or not column.texts \
                or names[column.name] > 1 or not column.name.strip():
            continue
        values = set(column.texts)
        if 2 <= len(values) <= 12 and max(len(v) for v in values) <= 40 \
                and len(column.texts) >= 0.5 * column.filled:
            out.append(column)
    return out


def find_overall(columns: list[Column], taken: set[int]) -> Column | None:
    for column in columns:
        if column.position not in taken and OVERALL.search(column.described) and \
                column.numbers.size:
            return column
    return None
