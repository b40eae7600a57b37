"""The distribution file (contract §7): who receives which unit's report, through which server.

::

    [smtp]
    host = "smtp.example.com"
    port = 587
    security = "starttls"            # "none", "starttls" or "tls"
    user_env = "SERVQUAL_SMTP_USER"  # names of environment variables: secrets never in the file
    password_env = "SERVQUAL_SMTP_PASSWORD"
    ca_file = "company-ca.pem"       # optional: a certificate authority to trust besides the system's
    timeout = 30                     # optional: seconds per connection
    attempts = 3                     # optional: tries per message before a recipient counts as failed
    backoff = 5.0                    # optional: seconds before the second try, doubled after each

    [message]
    from = "Service Quality <sq@example.com>"
    reply_to = "sq-team@example.com"                       # optional
    subject = { en = "…", zh-CN = "…" }                    # optional: instead of the built-in one
    intro = { en = "…", zh-CN = "…" }                      # optional: the first paragraph

    [units.East]                     # a value of the --split-by column; [units.all]: the overall report
    to = ["east.manager@example.com"]
    cc = []
    lang = "zh-CN"

``subject`` and ``intro`` may use ``{unit}``, ``{wave}`` and ``{organisation}``. Every address
is checked (one mailbox, no line breaks or control characters: no header injection), and a
mistake stops the command before anything is sent (exit 65, naming the file and key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any

from ..errors import InstrumentError
from ..files import read_toml
from ..instrument import LANGUAGES
from ..tomlcheck import TomlChecker, placeholder_problem

SECURITY = ("none", "starttls", "tls")
OVERALL = "all"  # [units.all]: the overall report
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what may not be in a header value
_PLACEHOLDERS = {"unit", "wave", "organisation"}


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int
    security: str = "starttls"
    user_env: str = ""
    password_env: str = ""
    ca_file: Path | None = None
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 5.0


@dataclass(frozen=True)
class Recipients:
    """Who receives one unit's report, and in which language."""

    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    lang: str = "en"

    @property
    def everyone(self) -> tuple[str, ...]:
        return self.to + tuple(a for a in self.cc if a not in self.to)


@dataclass(frozen=True)
class Distribution:
    path: Path
    smtp: Smtp
    sender: str
    reply_to: str = ""
    subject: dict[str, str] = field(default_factory=dict)
    intro: dict[str, str] = field(default_factory=dict)
    units: dict[str, Recipients] = field(default_factory=dict)


def mailbox(text: Any, path: Path, key: str) -> str:
    """One e-mail address (optionally with a display name), checked: a single mailbox with a
    local part and a domain, and nothing that could end a header line."""
    if not isinstance(text, str) or not text.strip():
        raise InstrumentError("must be an e-mail address", file=path, key=key)
    if CONTROL.search(text):
        raise InstrumentError("an address may not hold line breaks or control characters",
                              file=path, key=key)
    found = getaddresses([text])
    name, address = parseaddr(text)
    if len(found) != 1 or not address or address != found[0][1]:
        raise InstrumentError(f"{text!r} is not one e-mail address", file=path, key=key)
    local, _, domain = address.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in address):
        raise InstrumentError(f"{text!r} is not an e-mail address (name@domain.example)",
                              file=path, key=key)
    try:
        str(Address(display_name=name, addr_spec=address))
    except (ValueError, IndexError) as err:
        raise InstrumentError(f"{text!r} is not an e-mail address: {err}", file=path,
                              key=key) from None
    return text.strip()


def load_distribution(path: str | Path) -> Distribution:
    """Read and check a distribution file; nothing is sent from a file with a mistake."""
    path = Path(path)
    doc = read_toml(path, "distribution")
    c = TomlChecker(path)
    c.keys(doc, ("smtp", "message", "units"), "", required=("smtp", "message", "units"))
    smtp = c.table(doc["smtp"], "smtp")
    c.keys(smtp, ("host", "port", "security", "user_env", "password_env", "ca_file", "timeout",
                  "attempts", "backoff"), "smtp", required=("host",))
    security = smtp.get("security", "starttls")
    if security not in SECURITY:
        raise InstrumentError(f"must be one of {', '.join(map(repr, SECURITY))}", file=path,
                              key="smtp.security")
    host = smtp["host"]
    if not isinstance(host, str) or not host.strip() or CONTROL.search(host):
        raise InstrumentError("must name the mail server", file=path, key="smtp.host")
    port = smtp.get("port", DEFAULT_PORTS[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InstrumentError("must be a port number (1–65535)", file=path, key="smtp.port")
    names = {}
    for key in ("user_env", "password_env"):
        value = smtp.get(key, "")
        if not isinstance(value, str) or (value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                                      value)):
            raise InstrumentError("must name an environment variable (the secret itself never "
                                  "goes in the file)", file=path, key=f"smtp.{key}")
        names[key] = value
    if bool(names["user_env"]) != bool(names["password_env"]):
        raise InstrumentError("give both user_env and password_env, or neither", file=path,
                              key="smtp.user_env")
    ca_file = smtp.get("ca_file")
    if ca_file is not None:
        ca_file = (path.parent / str(ca_file)).resolve()
        if not ca_file.is_file():
            raise InstrumentError(f"no certificate file {ca_file}", file=path,
                                  key="smtp.ca_file")
    numbers = {}
    for key, default, low in (("timeout", 30.0, 0.0), ("attempts", 3, 1), ("backoff", 5.0, 0.0)):
        value = smtp.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
                key == "attempts" and not isinstance(value, int)) or (
                key == "timeout" and value == 0):
            raise InstrumentError(f"must be a number of at least {low:g}", file=path,
                                  key=f"smtp.{key}")
        numbers[key] = value
    message = c.table(doc["message"], "message")
    c.keys(message, ("from", "reply_to", "subject", "intro"), "message", required=("from",))
    sender = mailbox(message["from"], path, "message.from")
    reply_to = mailbox(message["reply_to"], path, "message.reply_to") \
        if "reply_to" in message else ""
    texts = {key: _texts(message.get(key, {}), path, f"message.{key}")
             for key in ("subject", "intro")}
    units = {}
    table = c.table(doc["units"], "units")
    if not table:
        raise InstrumentError("names no unit: add [units.VALUE] (or [units.all] for the "
                              "overall report) with its recipients", file=path, key="units")
    for unit, spec in table.items():
        where = f"units.{unit}"
        spec = c.table(spec, where)
        c.keys(spec, ("to", "cc", "lang"), where, required=("to",))
        lists = {}
        for key in ("to", "cc"):
            value = spec.get(key, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise InstrumentError("must be a list of e-mail addresses", file=path,
                                      key=f"{where}.{key}")
            lists[key] = tuple(mailbox(a, path, f"{where}.{key}[{n}]")
                               for n, a in enumerate(value))
        lang = spec.get("lang", "en")
        if lang not in LANGUAGES:
            raise InstrumentError(f"must be one of {', '.join(LANGUAGES)}", file=path,
                                  key=f"{where}.lang")
        units[str(unit)] = Recipients(lists["to"], lists["cc"], lang)
    return Distribution(path=path, smtp=Smtp(host.strip(), port, security, names["user_env"],
                                             names["password_env"], ca_file,
                                             float(numbers["timeout"]), numbers["attempts"],
                                             float(numbers["backoff"])),
                        sender=sender, reply_to=reply_to, subject=texts["subject"],
                        intro=texts["intro"], units=units)


def _texts(value: Any, path: Path, key: str) -> dict[str, str]:
    """A text per language; its placeholders are {unit}, {wave} and {organisation}."""
    if isinstance(value, str):
        value = {lang: value for lang in LANGUAGES}
    if not isinstance(value, dict):
        raise InstrumentError('must be a text, or one per language: { en = "…", zh-CN = "…" }',
                              file=path, key=key)
    out = {}
    for lang, text in value.items():
        if lang not in LANGUAGES or not isinstance(text, str):
            raise InstrumentError(f"languages are {', '.join(LANGUAGES)}, each with a text",
                                  file=path, key=f"{key}.{lang}")
        problem = placeholder_problem(text, _PLACEHOLDERS)
        if problem:
            raise InstrumentError(problem, file=path, key=f"{key}.{lang}")
        out[lang] = text
    return out
