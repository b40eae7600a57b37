"""A delimited text file's bytes as UTF-8 text: its encoding, and decoding it.

The file is memory-mapped. Its encoding is the instrument's, or detected (a byte-order mark,
else UTF-16 by its zero bytes, else UTF-8 when the start of the file is valid UTF-8, else the
legacy code page whose reading is plausible text: :mod:`servqual.ingest.charsets`).
Text in another encoding than UTF-8 is transcoded to UTF-8 once, in memory (or block by
block into a scratch file, for a file streamed). When text judged UTF-8 by its start turns
out not to be further on, the encoding is judged again on the text where it fails.
"""

from __future__ import annotations

import codecs
import mmap
import tempfile
from pathlib import Path

from ..errors import DataError
from ..instrument import Instrument
from .charsets import SEPARATOR, judge, utf16_without_bom

SNIFF_BYTES = 1 << 16
_TRANSCODE_BLOCK = 1 << 24  # bytes decoded at a time when a file is read block by block
_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decoding(read, encoding: str, auto: bool, path: Path, data):
    """``read(encoding)``; when the text turns out not to be UTF-8 past the part its
    encoding was judged on, ``read`` again with the encoding of the text around the first
    byte that is not (``data()``: the file's bytes), or an error naming the line if the
    instrument named the encoding."""
    try:
        return read(encoding)
    except _NotUtf8 as err:
        if not auto:
            raise DataError(f"is not valid {encoding} text (line {err.line}); name the "
                            "file's encoding in the instrument", file=path) from None
        return read(_detect_where_utf8_fails(data(), err.offset, path))


def file_encoding(setting: str, sample: bytes, path: Path) -> str:
    """The instrument's ``encoding``; where it says ``auto``, the one the file's first bytes
    (``sample``) show (:func:`detect_encoding`)."""
    return detect_encoding(sample[:SNIFF_BYTES], path) if setting == "auto" else setting


def detect_encoding(sample: bytes, path: Path) -> str:
    """The encoding of a text file, from its first bytes, when the instrument says ``auto``.

    A byte-order mark decides; else zero bytes on one side of each pair say UTF-16 without
    one; else text that is valid UTF-8 is UTF-8 (the whole file is checked while it is
    parsed); else the legacy code page whose reading is plausible text
    (:func:`servqual.ingest.charsets.judge`, which stops when it cannot tell).
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if wide := utf16_without_bom(sample):
        return wide
    if len(sample) >= SNIFF_BYTES:
        sample = _cut(sample)  # never judge a character cut in two
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        first = err.start
    if b"\n" not in sample[:first] and b"\r" not in sample[:first]:
        return judge(sample, path)  # not UTF-8 from the first line on
    try:
        return judge(sample, path)
    except DataError as err:
        raise _where(err, sample, first) from None


def _where(err: DataError, data, offset: int) -> DataError:
    """``err`` (no encoding reads the text) saying where the text stops being UTF-8: a file
    of UTF-8 lines and a few pasted from another export reads as no one encoding."""
    err.message = (f"line {_line_of(data, offset)} is the first that is not UTF-8 text, as "
                   f"the lines before it are; {err.message}. A file mixing encodings (rows "
                   "pasted from another export) must be saved again in one")
    return err


def _cut(sample: bytes) -> bytes:
    """``sample`` up to its last byte that ends no multi-byte character in any encoding."""
    for end in range(len(sample), max(0, len(sample) - 4096), -1):
        if SEPARATOR.match(sample, end - 1):
            return sample[:end]
    return sample


def _detect_where_utf8_fails(data, offset: int, path: Path) -> str:
    """Judge the encoding on the text around the first byte that is not UTF-8.

    The start of the file looked like UTF-8 (often plain ASCII); the bytes that broke it are
    the evidence of the real encoding, judged as :func:`detect_encoding` judges a start that
    is not UTF-8. Lines end at any line break (LF, CRLF or CR).
    """
    lo = max(0, offset - SNIFF_BYTES // 2)
    start = max(data.rfind(b"\n", 0, lo), data.rfind(b"\r", 0, lo)) + 1
    hi = offset + SNIFF_BYTES // 2
    ends = [e for e in (data.find(b"\n", hi), data.find(b"\r", hi)) if e >= 0]
    try:
        return judge(bytes(data[start:min(ends) if ends else len(data)]), path)
    except DataError as err:
        raise _where(err, data, offset) from None


def _check_codec(encoding: str, path: Path) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as err:
        raise DataError(f"unknown encoding {encoding!r}", file=path,
                        key="instrument.encoding") from err


class _NotUtf8(Exception):
    """The text is not valid UTF-8 at byte ``offset`` (on ``line``)."""

    def __init__(self, data, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset
        self.line = _line_of(data, offset)


def _map(path: Path) -> mmap.mmap | bytes:
    """The file's bytes, memory-mapped. The mapping lives as long as something (an Arrow
    buffer still being released by a reader thread, say) refers to it; the file itself is
    closed at once."""
    with path.open("rb") as fh:
        if not path.stat().st_size:
            return b""
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def _utf8(data, encoding: str, path: Path) -> tuple[object, int]:
    """The text as UTF-8 bytes (the mapped file itself when it is UTF-8) and where it starts."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return data, len(codecs.BOM_UTF8) if data[:3] == codecs.BOM_UTF8 else 0
    try:
        text = bytes(data).decode(encoding)
    except UnicodeDecodeError as err:
        raise DataError(f"cannot be decoded as {encoding} (line {_line_of(data, err.start)}: "
                        f"{err.reason}); name the file's encoding in the instrument",
                        file=path) from None
    return text.lstrip("\ufeff").encode("utf-8"), 0


def _transcode(path: Path, encoding: str, scratch: Path) -> Path:
    """The text of ``path`` as a UTF-8 file in ``scratch`` (without a byte-order mark), decoded
    block by block."""
    fd, name = tempfile.mkstemp(suffix=".csv", dir=scratch)
    decoder = codecs.getincrementaldecoder(encoding)()
    line, first, last = 1, True, b""
    with path.open("rb") as source, open(fd, "wb") as out:
        while True:
            block = source.read(_TRANSCODE_BLOCK)
            line -= last == b"\r" and block[:1] == b"\n"  # a CRLF split between blocks
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                line += _line_breaks(block[:max(err.start, 0)])
                raise DataError(f"cannot be decoded as {encoding} (line {line}: {err.reason}); "
                                "name the file's encoding in the instrument", file=path) from None
            if first and text:
                text, first = text.lstrip("\ufeff"), False
            out.write(text.encode("utf-8"))
            line += _line_breaks(block)
            last = block[-1:]
            if not block:
                return Path(name)


def encoding_where_utf8_fails(path: Path, text: Path, instrument: Instrument) -> str:
    """A streamed file turned out not to be UTF-8 after the start its encoding was judged
    on: the encoding judged on the text around the first byte that is not UTF-8 (as
    :func:`~servqual.ingest.text.read_text_table` does), or the reader's error when the
    instrument names the encoding. ``text`` is the file the records were streamed from."""
    data = _map(text)
    offset = _first_invalid_utf8(data)
    if instrument.settings.encoding != "auto":
        raise DataError(f"is not valid {instrument.settings.encoding} text (line "
                        f"{_line_of(data, offset)}); name the file's encoding in the "
                        "instrument", file=path)
    return _detect_where_utf8_fails(data, offset, path)


def _line_of(data, offset: int) -> int:
    """The line (as a text editor counts) holding byte ``offset``."""
    return _line_breaks(bytes(data[:offset])) + 1


def _line_breaks(data: bytes) -> int:
    """The line breaks in ``data``: LF, CRLF and CR alone each count once."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _first_invalid_utf8(data) -> int:
    """The offset of the first byte of ``data`` that is not UTF-8 (0 if there is none), read
    block by block (the data may be a file mapped in memory, larger than memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(data), _TRANSCODE_BLOCK):
        pending = len(decoder.getstate()[0])
        block = bytes(data[start:start + _TRANSCODE_BLOCK])
        try:
            decoder.decode(block, final=start + len(block) >= len(data))
        except UnicodeDecodeError as err:
            return start - pending + err.start
    return 0
