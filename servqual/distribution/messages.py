"""One report's e-mail: the opening, the report's summary inline and the report attached.

A message is ``multipart/mixed``: ``multipart/alternative`` (plain text, then e-mail-safe
HTML: inline styles, no script, no remote image) and the report as an attachment (HTML, and
its PDF when there is one and ``--pdf`` asks). Its texts come from the templates
``email/subject.txt``, ``email/intro.txt``, ``email/message.html`` and ``email/message.txt`` in
the recipient's language, or from the distribution file's ``[message] subject`` and ``intro``.
Header values drawn from the data (a unit's name) lose their control characters, so no value
can end a header line.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid

from ..report import environment, text_environment
from ..report.i18n import language
from ..translations import translations
from .config import CONTROL, Distribution, Recipients
from .reports import Report

def one_line(text: str) -> str:
    """A header-safe single line: control characters (line breaks among them) become spaces."""
    return re.sub(r"\s+", " ", CONTROL.sub(" ", text)).strip()


def build_message(report: Report, recipients: Recipients, config: Distribution,
                  with_pdf: bool = False) -> EmailMessage:
    """The e-mail of ``report`` to ``recipients`` (all of them in the headers; the envelope
    decides who is sent it now)."""
    lang = report.lang
    env = environment(lang)
    text = text_environment(env)  # the subject and the text part: nothing HTML-escaped
    overall = report.column == ""
    unit = report.unit_label or report.unit
    if overall:
        unit = translations(lang).gettext("All respondents")
    values = {"unit": unit, "wave": report.wave, "organisation": report.organisation}
    if lang in config.subject:
        subject = config.subject[lang].format(**values)
    else:
        subject = text.get_template("email/subject.txt").render(values)
    if lang in config.intro:
        intro = config.intro[lang].format(**values)
    else:
        intro = text.get_template("email/intro.txt").render(values, overall=overall).strip()
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = config.sender
    message["To"] = ", ".join(recipients.to)
    if recipients.cc:
        message["Cc"] = ", ".join(recipients.cc)
    if config.reply_to:
        message["Reply-To"] = config.reply_to
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2].strip("> "))
    message["X-Servqual-Report"] = f"{one_line(report.wave)} {report.digest[:16]}"
    context = {"intro": intro, "summary": report.summary_text, "subject": message["Subject"],
               "attachment": report.path.name, "html_lang": language(lang).html_lang}
    plain = text.get_template("email/message.txt").render(context)
    message.set_content(plain.strip() + "\n", subtype="plain", charset="utf-8")
    message.add_alternative(env.get_template("email/message.html").render(
        context | {"summary": report.summary_html}), subtype="html", charset="utf-8")
    message.add_attachment(report.path.read_bytes(), maintype="text", subtype="html",
                           filename=report.path.name, params={"charset": "utf-8"})
    if with_pdf and report.pdf.is_file():
        message.add_attachment(report.pdf.read_bytes(), maintype="application",
                               subtype="pdf", filename=report.pdf.name)
    return message

