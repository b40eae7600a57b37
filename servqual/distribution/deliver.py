"""Sending: each unit's report to its recipients, once.

The plan (:func:`plan`) pairs each ``[units.X]`` of the distribution file with the report of
unit X in the unit's language; it is checked whole before anything is sent. A unit with
recipients but no report, and a report whose unit has no recipients, are named — never
skipped in silence. Each recipient receives only the message built from their own unit's
report.

Once: the delivery log (:mod:`.log`: the history store's, else ``servqual-deliveries.csv``
beside the reports) holds a row per delivered (wave, unit, recipient, report hash); a rerun
sends only what it lacks, ``--resend`` sends again. A message is tried ``attempts`` times, ``backoff`` seconds apart (doubled after
each try), for the recipients not yet accepted; those never accepted are named and the
command exits 75 (EX_TEMPFAIL) while the others keep what they received.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parseaddr
from pathlib import Path
from typing import Callable

from ..errors import DataError, DeliveryError, UsageError
from .config import OVERALL, Distribution, Recipients, Smtp
from .log import LOG_NAME, open_log
from .messages import build_message
from .reports import Report



@dataclass
class Delivery:
    """What a distribution did: per recipient, sent, already delivered or failed."""

    sent: list[tuple[str, str]] = field(default_factory=list)  # (unit, recipient)
    already: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (unit, recipient, why)
    no_recipients: list[str] = field(default_factory=list)  # units with a report, no [units]
    no_report: list[str] = field(default_factory=list)  # [units] without a report
    drafts: list[Path] = field(default_factory=list)  # --dry-run: the .eml files


def address(mailbox: str) -> str:
    """The bare address of a mailbox ("Name <a@b>" → "a@b"), as the delivery log keys it."""
    return parseaddr(mailbox)[1].lower()


def plan(reports: list[Report], config: Distribution
         ) -> tuple[list[tuple[Report, Recipients]], Delivery]:
    """Each configured unit with its report in the unit's language; the units left without
    one side. A unit whose report exists only in another language stops the plan."""
    done = Delivery()
    pairs = []
    for unit, recipients in config.units.items():
        mine = [r for r in reports if r.unit == unit]
        if not mine:
            done.no_report.append(unit)
            continue
        matching = [r for r in mine if r.lang == recipients.lang]
        if len(matching) > 1:  # two runs in one folder: which one is meant is not clear
            raise DataError(
                f"{len(matching)} reports of {unit} in {recipients.lang} for {matching[0].wave}"
                f": {', '.join(str(r.path) for r in matching)}; give the report files, or a "
                "folder holding one run's reports", key=f"units.{unit}")
        chosen = matching[0] if matching else None
        if chosen is None:
            raise DataError(
                f"[units.{unit}] reads {recipients.lang}, and the report of {unit} is in "
                f"{', '.join(sorted({r.lang for r in mine}))} only: write it with --lang "
                f"{recipients.lang}", file=config.path, key=f"units.{unit}.lang")
        if recipients.everyone:
            pairs.append((chosen, recipients))
        else:
            done.no_recipients.append(unit)
    configured = set(config.units)
    done.no_recipients += sorted({r.unit for r in reports} - configured)
    return pairs, done


def distribute(reports: list[Report], config: Distribution, *, resend: bool = False,
               dry_run: Path | None = None, with_pdf: bool = False,
               store: Path | None = None, wait: float = 30.0,
               say: Callable[[str], None] = print, sleep=time.sleep) -> Delivery:
    """Send each planned report to the recipients who do not have it yet (see the module);
    the delivery log is ``store``'s when given (:mod:`.log`)."""
    pairs, done = plan(reports, config)
    if not pairs:
        return done
    credentials = None if dry_run is not None else _credentials(config.smtp)
    if dry_run is not None:
        dry_run.mkdir(parents=True, exist_ok=True)
    log = open_log(pairs[0][0].path.parent, store, wait, on_wait=say,
                   write=dry_run is None)
    try:
        _deliver(pairs, config, log, done, resend, dry_run, with_pdf, credentials, say, sleep)
    finally:
        log.close()
    return done


def _deliver(pairs, config, log, done, resend, dry_run, with_pdf, credentials, say, sleep):
    rows = log.delivered()
    delivered = set(zip(rows["wave"], rows["unit"], rows["recipient"], rows["report_sha256"]))
    for report, recipients in pairs:
        pending = [a for a in recipients.everyone if resend or (
            report.wave, report.unit, address(a), report.digest) not in delivered]
        done.already += [(report.unit, a) for a in recipients.everyone if a not in pending]
        if not pending:
            continue
        message = build_message(report, recipients, config, with_pdf=with_pdf)
        if dry_run is not None:
            draft = dry_run / f"{report.path.stem}.eml"
            draft.write_bytes(message.as_bytes())
            done.drafts.append(draft)
            say(f"{report.unit}: {report.path.name} → {', '.join(pending)} ({draft})")
            continue
        accepted, refused = _send(config, credentials, message, pending, sleep)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [{"wave": report.wave, "unit": report.unit, "lang": report.lang,
                 "recipient": address(a), "report_sha256": report.digest,
                 "report": report.path.name, "sent_at": now,
                 "message_id": message["Message-ID"]} for a in accepted]
        if rows:  # written after each message: an interrupted run resends nothing delivered
            log.record(rows)
        done.sent += [(report.unit, a) for a in accepted]
        done.failed += [(report.unit, a, why) for a, why in refused.items()]


def check(done: Delivery, rerun: str) -> None:
    """Exit 75 naming every recipient who did not get their report; ``rerun``: the command
    that sends the rest (the reports as written: a report rendered again on another day is
    another report, which everyone would receive again)."""
    if done.failed:
        who = "; ".join(f"{a} ({unit}: {why})" for unit, a, why in done.failed)
        raise DeliveryError(f"not delivered to {len(done.failed)} recipient(s): {who}. The "
                            f"others have theirs; {rerun} sends the rest")


def _credentials(smtp: Smtp) -> tuple[str, str] | None:
    if not smtp.user_env:
        return None
    values = [os.environ.get(smtp.user_env), os.environ.get(smtp.password_env)]
    for name, value in zip((smtp.user_env, smtp.password_env), values):
        if not value:
            raise UsageError(f"the environment variable {name} is not set: it holds the mail "
                             "server's user name or password (the distribution file names it)")
    return values[0], values[1]


def _connect(smtp: Smtp, credentials) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if smtp.ca_file is not None:
        context.load_verify_locations(cafile=str(smtp.ca_file))
    if smtp.security == "tls":
        server = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        if smtp.security == "starttls":
            server.starttls(context=context)
    if credentials is not None:
        server.login(*credentials)
    return server


def _send(config: Distribution, credentials, message, pending: list[str], sleep
          ) -> tuple[list[str], dict[str, str]]:
    """Try to deliver ``message`` to ``pending``: the mailboxes accepted, and why the others
    were not, after ``attempts`` tries."""
    smtp = config.smtp
    accepted: list[str] = []
    why: dict[str, str] = {}
    for attempt in range(smtp.attempts):
        if attempt:
            sleep(smtp.backoff * 2 ** (attempt - 1))
        by_address = {address(a): a for a in pending}
        try:
            with contextlib.closing(_connect(smtp, credentials)) as server:
                refused = server.send_message(message, from_addr=address(config.sender),
                                              to_addrs=list(by_address))
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    server.quit()
        except smtplib.SMTPRecipientsRefused as err:
            refused = err.recipients
        except (smtplib.SMTPException, OSError) as err:
            refused = {a: (0, str(err)) for a in by_address}
        accepted += [by_address[a] for a in by_address if a not in refused]
        why = {by_address[a]: _reason(refused[a]) for a in by_address if a in refused}
        pending = list(why)
        if not pending:
            break
    return accepted, why


def _reason(answer) -> str:
    code, text = answer if isinstance(answer, tuple) else (0, answer)
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {text}".strip() if code else text


__all__ = ["Delivery", "LOG_NAME", "OVERALL", "check", "distribute", "plan"]
