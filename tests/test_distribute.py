"""servqual distribute, through the command line, against a real SMTP server on localhost
(aiosmtpd, started by the tests): delivery of each unit's report to its own recipients only,
once; a rerun; refusal and retry; STARTTLS with a self-signed certificate and a login; the
dry run; the e-mail's HTML; and mistakes in the distribution file."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures import TINY_CSV, TINY_INSTRUMENT, write
from servqual.cli import app

aiosmtpd = pytest.importorskip("aiosmtpd", reason="pip install -e '.[test]'")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult  # noqa: E402

EAST, WEST, BOSS = "east.manager@example.com", "west.manager@example.com", "ceo@example.com"


class Inbox:
    """An aiosmtpd handler keeping what it receives; ``refuse`` maps an address to the
    answers its RCPT gets, one per try (then it is accepted)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.refuse: dict[str, list[str]] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answers = self.refuse.get(address)
        if answers:
            return answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content,
                                          policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _distribution(tmp_path, port, extra_smtp="", units=None) -> Path:
    units = units if units is not None else f"""
[units.East]
to = ["East Manager <{EAST}>"]
lang = "en"

[units.West]
to = ["{WEST}"]
cc = ["{BOSS}"]
lang = "zh-CN"

[units.all]
to = ["{BOSS}"]
"""
    return write(tmp_path / "distribution.toml", f"""
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
attempts = 3
backoff = 0
{extra_smtp}
[message]
from = "Service Quality <sq@example.com>"
{units}""")


def _report(tmp_path, *options):
    instrument = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    data = write(tmp_path / "2026Q3.csv", TINY_CSV)
    out = tmp_path / "out" / "report.html"
    return CliRunner().invoke(app, ["report", str(data), "--instrument", str(instrument),
                                    "--out", str(out), "--split-by", "region", *options]), out


def _attachments(message) -> list[str]:
    return [part.get_filename() for part in message.iter_attachments()]


def test_each_unit_reaches_its_own_recipients_once(tmp_path, smtp):
    inbox, port = smtp
    config = _distribution(tmp_path, port)
    result, out = _report(tmp_path, "--distribute", str(config))
    assert result.exit_code == 0, result.output
    # East in English, West in Chinese (its unit reads zh-CN), the overall report to the CEO.
    (east,) = inbox.to(EAST)
    assert _attachments(east) == ["report.region-East.html"]
    assert east["To"] == f"East Manager <{EAST}>" and "East" in east["Subject"]
    (west,) = inbox.to(WEST)
    assert _attachments(west) == ["report.zh-CN.region-West.html"]
    assert "服务质量报告" in west["Subject"] and west["Cc"] == BOSS
    boss = inbox.to(BOSS)  # as West's cc, and for the overall report
    assert sorted(a for m in boss for a in _attachments(m)) == [
        "report.html", "report.zh-CN.region-West.html"]
    # Nobody receives another unit's report.
    for rcpt, message in inbox.messages:
        names = _attachments(message)
        if "report.region-East.html" in names:
            assert rcpt == [EAST]
    # The attachment is the report as written.
    attached = next(east.iter_attachments()).get_content()
    assert attached == (out.parent / "report.region-East.html").read_text(encoding="utf-8")
    # A rerun sends nothing: the delivery log has them all.
    log = out.parent / "servqual-deliveries.csv"
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1 + 4
    before = len(inbox.messages)
    again = CliRunner().invoke(app, ["distribute", str(out.parent), "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert len(inbox.messages) == before
    assert again.output.count("already delivered") == 4
    # --resend sends again.
    forced = CliRunner().invoke(app, ["distribute", str(out.parent), "--config", str(config),
                                      "--resend"])
    assert forced.exit_code == 0, forced.output
    assert len(inbox.messages) == before + 3


def test_the_email_html_is_safe_and_has_a_plain_text_part(tmp_path, smtp):
    inbox, port = smtp
    result, _ = _report(tmp_path, "--distribute", str(_distribution(tmp_path, port)))
    assert result.exit_code == 0, result.output
    (east,) = inbox.to(EAST)
    html = east.get_body(("html",)).get_content()
    text = east.get_body(("plain",)).get_content()
    lowered = html.lower()
    for banned in ("<script", "<style", "<link", "<img", "src=", "class=", "javascript:"):
        assert banned not in lowered, banned
    assert 'style="' in html and "Overall SERVQUAL gap, 2026Q3" in html
    text = text.replace("\r\n", "\n")
    assert "report.region-East.html" in text and "<" not in text
    # East's own gap by hand: alpha (−0.5 − 2) / 2 = −1.25, beta (1 + 0) / 2 = 0.5 → −0.375
    assert "Overall SERVQUAL gap, 2026Q3: −0.3" in text
    overall = [m for m in inbox.to(BOSS) if _attachments(m) == ["report.html"]][0]
    whole = overall.get_body(("plain",)).get_content()
    assert "Overall SERVQUAL gap, 2026Q3: −0.69" in whole  # TINY's hand value, −0.6875
    assert "Here is the service quality report for 2026Q3, all respondents." in whole
    (west,) = inbox.to(WEST)
    assert "SERVQUAL 总体差距" in west.get_body(("plain",)).get_content()


def test_a_refused_recipient_is_retried_named_and_sent_on_the_rerun(tmp_path, smtp):
    inbox, port = smtp
    inbox.refuse[EAST] = ["451 try again later"] * 2  # accepted on the third try
    inbox.refuse[WEST] = ["550 no such mailbox"] * 3  # never, this run
    config = _distribution(tmp_path, port)
    result, out = _report(tmp_path, "--distribute", str(config))
    assert result.exit_code == 75, result.output
    assert WEST in result.output and "550 no such mailbox" in result.output
    assert f"servqual distribute {out.parent} --config {config} sends the rest" in \
        result.output.replace("\n", "")
    assert len(inbox.to(EAST)) == 1 and inbox.to(WEST) == []
    assert len(inbox.to(BOSS)) == 2  # West's cc and the overall report still went out
    # The mailbox is fixed: the rerun sends West's report to West only.
    again = CliRunner().invoke(app, ["distribute", str(out.parent), "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert len(inbox.to(WEST)) == 1 and len(inbox.to(EAST)) == 1 and len(inbox.to(BOSS)) == 2
    (rcpt, _), = [(r, m) for r, m in inbox.messages if WEST in r]
    assert rcpt == [WEST]


def test_the_dry_run_writes_eml_files_and_sends_nothing(tmp_path, smtp):
    inbox, port = smtp
    drafts = tmp_path / "drafts"
    result, out = _report(tmp_path, "--distribute", str(_distribution(tmp_path, port)),
                          "--dry-run", str(drafts))
    assert result.exit_code == 0, result.output
    assert inbox.messages == [] and not (out.parent / "servqual-deliveries.csv").exists()
    files = sorted(p.name for p in drafts.glob("*.eml"))
    assert files == ["report.eml", "report.region-East.eml", "report.zh-CN.region-West.eml"]
    draft = email.message_from_bytes((drafts / "report.region-East.eml").read_bytes(),
                                     policy=email.policy.default)
    assert _attachments(draft) == ["report.region-East.html"]
    assert f"East: report.region-East.html → East Manager <{EAST}>" in result.output


def test_units_without_recipients_or_reports_are_named(tmp_path, smtp):
    inbox, port = smtp
    config = _distribution(tmp_path, port, units=f"""
[units.East]
to = ["{EAST}"]

[units.North]
to = ["north@example.com"]
""")
    result, _ = _report(tmp_path, "--distribute", str(config))
    assert result.exit_code == 0, result.output
    assert "the report of West has no recipients" in result.output
    assert "the report of all has no recipients" in result.output
    assert "[units.North] has recipients but there is no report of North" in result.output
    assert [r for r, _ in inbox.messages] == [[EAST]]


def _certificate(tmp_path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 and the server's TLS context."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return cert, context


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificate")
def test_implicit_tls(tmp_path):
    cert, context = _certificate(tmp_path)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                            ssl_context=context)
    controller.start()
    try:
        config = _distribution(tmp_path, controller.port, f'ca_file = "{cert.name}"\n',
                               units=f'[units.East]\nto = ["{EAST}"]\n')
        config.write_text(config.read_text(encoding="utf-8").replace(
            'security = "none"', 'security = "tls"'), encoding="utf-8")
        result, _ = _report(tmp_path, "--distribute", str(config))
        assert result.exit_code == 0, result.output
        assert [r for r, _ in inbox.messages] == [[EAST]]
    finally:
        controller.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificate")
def test_starttls_with_a_self_signed_certificate_and_a_login(tmp_path, monkeypatch):
    cert, context = _certificate(tmp_path)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        extra = ('user_env = "SQ_USER"\npassword_env = "SQ_PASSWORD"\n'
                 f'ca_file = "{cert.name}"\n')
        config = _distribution(tmp_path, controller.port, extra).read_text(encoding="utf-8")
        config = config.replace('security = "none"', 'security = "starttls"')
        (tmp_path / "distribution.toml").write_text(config, encoding="utf-8")
        monkeypatch.setenv("SQ_USER", "analyst")
        monkeypatch.setenv("SQ_PASSWORD", "s3cret")
        result, _ = _report(tmp_path, "--distribute", str(tmp_path / "distribution.toml"))
        assert result.exit_code == 0, result.output
        assert len(inbox.to(EAST)) == 1 and logins[0] == (b"analyst", b"s3cret")
        # Without the certificate authority the server is not trusted: nothing is sent.
        (tmp_path / "distribution.toml").write_text(
            config.replace(f'ca_file = "{cert.name}"\n', ""), encoding="utf-8")
        result, out = _report(tmp_path, "--distribute", str(tmp_path / "distribution.toml"),
                              "--resend")
        assert result.exit_code == 75
        assert "CERTIFICATE_VERIFY_FAILED" in result.output
        # Without the password in the environment: a usage error before anything is sent.
        monkeypatch.delenv("SQ_PASSWORD")
        result, _ = _report(tmp_path, "--distribute", str(tmp_path / "distribution.toml"))
        assert result.exit_code == 2 and "SQ_PASSWORD" in result.output
    finally:
        controller.stop()


@pytest.mark.parametrize("units, key", [
    # a header injection: a line break in an address
    ('[units.East]\nto = ["east@example.com\\nBcc: spy@example.com"]\n', "units.East.to[0]"),
    ('[units.East]\nto = ["east@example.com, spy@example.com"]\n', "units.East.to[0]"),
    ('[units.East]\nto = ["not an address"]\n', "units.East.to[0]"),
    ('[units.East]\nto = ["east@example.com"]\nlang = "fr"\n', "units.East.lang"),
    ('[units.East]\nto = ["east@example.com"]\nbcc = ["x@example.com"]\n', "units.East.bcc"),
    # a format in a placeholder crashed the sending after the reports were written
    ('subject = { en = "{organisation:d} {wave}", zh-CN = "{wave}" }\n'
     '[units.East]\nto = ["east@example.com"]\n', "message.subject.en"),
])
def test_mistakes_in_the_distribution_file_send_nothing(tmp_path, smtp, units, key):
    inbox, port = smtp
    result, _ = _report(tmp_path, "--distribute", str(_distribution(tmp_path, port,
                                                                     units=units)))
    assert result.exit_code == 65, result.output
    assert f"key '{key}'" in result.output
    assert inbox.messages == [] and not (tmp_path / "out").exists()


def test_distribute_needs_servqual_reports(tmp_path, smtp):
    _, port = smtp
    write(tmp_path / "reports" / "other.html", "<html><body>not ours</body></html>")
    result = CliRunner().invoke(app, ["distribute", str(tmp_path / "reports"), "--config",
                                      str(_distribution(tmp_path, port))])
    assert result.exit_code == 65 and "no servqual report found" in result.output
    result = CliRunner().invoke(app, ["distribute", str(tmp_path / "absent"), "--config",
                                      str(_distribution(tmp_path, port))])
    assert result.exit_code == 66


def test_a_report_in_another_language_than_the_unit_reads_is_an_error(tmp_path, smtp):
    inbox, port = smtp
    result, out = _report(tmp_path)  # English only
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, ["distribute", str(out.parent), "--config",
                                      str(_distribution(tmp_path, port))])
    assert result.exit_code == 65 and "units.West.lang" in result.output
    assert inbox.messages == []


def test_two_runs_in_one_folder_are_not_guessed_between(tmp_path, smtp):
    inbox, port = smtp
    result, out = _report(tmp_path)
    assert result.exit_code == 0, result.output
    (out.parent / "copy.html").write_bytes(out.read_bytes())  # a second overall report
    config = _distribution(tmp_path, port, units=f'[units.all]\nto = ["{BOSS}"]\n')
    result = CliRunner().invoke(app, ["distribute", str(out.parent), "--config", str(config)])
    assert result.exit_code == 65 and "2 reports of all in en" in result.output
    assert inbox.messages == []
    # Naming the file settles it.
    result = CliRunner().invoke(app, ["distribute", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert [r for r, _ in inbox.messages] == [[BOSS]]


def test_a_unit_name_from_the_data_cannot_add_a_header(tmp_path, smtp):
    """A segment value is data: its line break must not end the Subject header."""
    inbox, port = smtp
    hostile = 'East\r\nBcc: spy@example.com'
    data = TINY_CSV.replace("East", f'"{hostile}"')
    instrument = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    out = tmp_path / "out" / "report.html"
    config = _distribution(tmp_path, port, units=f'[units."East\\r\\nBcc: spy@example.com"]'
                           f'\nto = ["{EAST}"]\n')
    result = CliRunner().invoke(app, ["report", str(write(tmp_path / "2026Q3.csv", data)),
                                      "--instrument", str(instrument), "--out", str(out),
                                      "--split-by", "region", "--distribute", str(config)])
    assert result.exit_code == 0, result.output
    ((rcpt, message),) = inbox.messages
    assert rcpt == [EAST] and message["Bcc"] is None
    assert message["Subject"].endswith("East Bcc: spy@example.com")  # one line, inert


def test_the_pdf_goes_along_with_pdf(tmp_path, smtp):
    inbox, port = smtp
    result, out = _report(tmp_path)
    assert result.exit_code == 0, result.output
    pdf = out.with_suffix(".pdf")
    pdf.write_bytes(b"%PDF-1.4\n% a stand-in for the printed report\n")
    config = _distribution(tmp_path, port, units=f'[units.all]\nto = ["{BOSS}"]\n')
    result = CliRunner().invoke(app, ["distribute", str(out), "--config", str(config),
                                      "--pdf"])
    assert result.exit_code == 0, result.output
    ((_, message),) = inbox.messages
    assert _attachments(message) == ["report.html", "report.pdf"]
    assert next(p for p in message.iter_attachments()
                if p.get_filename() == "report.pdf").get_content() == pdf.read_bytes()


def test_the_example_distribution_file_is_valid():
    from conftest import ROOT
    from servqual.distribution import load_distribution

    example = load_distribution(ROOT / "surveys" / "distribution.toml")
    assert example.smtp.security == "starttls" and "all" in example.units
    assert all(r.to for r in example.units.values())


def test_with_a_history_store_the_log_lives_in_the_store(tmp_path, smtp):
    import duckdb

    inbox, port = smtp
    instrument = write(tmp_path / "instrument.toml", TINY_INSTRUMENT)
    data = write(tmp_path / "2026Q3.csv", TINY_CSV)
    store = tmp_path / "history.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(data), "--instrument", str(instrument),
                               "--store", str(store)]).exit_code == 0
    config = _distribution(tmp_path, port, units=f'[units.all]\nto = ["{BOSS}"]\n')
    out = tmp_path / "out" / "report.html"
    args = ["report", "--store", str(store), "--instrument", str(instrument), "--out",
            str(out), "--distribute", str(config)]
    # A dry run reads the store's log and changes nothing.
    dry = runner.invoke(app, args + ["--dry-run", str(tmp_path / "drafts")])
    assert dry.exit_code == 0, dry.output
    with duckdb.connect(str(store), read_only=True) as con:
        assert "deliveries" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    for _ in range(2):  # the second run finds the first run's delivery in the store
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert [r for r, _ in inbox.messages] == [[BOSS]]
    assert "already delivered all → ceo@example.com" in result.output
    assert not (out.parent / "servqual-deliveries.csv").exists()
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute("SELECT wave, unit, recipient FROM deliveries").fetchall()
    assert rows == [("2026Q3", "all", BOSS)]
    # The store is still a store: trends and reports read it.
    assert runner.invoke(app, ["trend", "--store", str(store)]).exit_code == 0
    again = runner.invoke(app, ["distribute", str(out.parent), "--config", str(config),
                                "--store", str(store)])
    assert again.exit_code == 0 and len(inbox.messages) == 1


def test_the_text_part_and_subject_are_not_html_escaped(tmp_path, smtp):
    # The plain-text part said "Dear R&amp;D team, &#34;East&#34;" and a subject with the
    # organisation "R&D" read "R&amp;D": text was escaped as if it were HTML.
    inbox, port = smtp
    units = (f'intro = {{ en = "Dear R&D team, \\"{{unit}}\\" is yours.", '
             f'zh-CN = "R&D 团队：{{unit}}" }}\n[units.East]\nto = ["{EAST}"]\n')
    result, _ = _report(tmp_path, "--organisation", "R&D <Lab>", "--distribute",
                        str(_distribution(tmp_path, port, units=units)))
    assert result.exit_code == 0, result.output
    (east,) = inbox.to(EAST)
    text = east.get_body(("plain",)).get_content()
    assert 'Dear R&D team, "East" is yours.' in text and "&amp;" not in text
    assert "R&D <Lab>" in east["Subject"] and "&amp;" not in east["Subject"]
    html = east.get_body(("html",)).get_content()
    assert "Dear R&amp;D team, &#34;East&#34; is yours." in html and "&amp;amp;" not in html
