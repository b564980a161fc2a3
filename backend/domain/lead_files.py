"""Uploaded CSV lead files: decode, find the identity columns, and stream rows with line numbers.

Users export these from whatever they have (Excel, a CRM, Google Sheets), so we accept the common
encodings and delimiters and match headers loosely, but we read them as hostile input: memory stays
bounded by `Limits` whatever the file holds, binary uploads fail fast, and a cell that is a
spreadsheet formula is kept as text yet never trusted as a person's identity (R1).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from backend.domain.errors import InvalidProfileUrl
from backend.domain.identity import canonical_linkedin_url, email_key

MAX_EMAIL = 254  # RFC 5321's path limit
MAX_TEXT = 300
_CHUNK = 64 * 1024
_FORMULA_PREFIXES = ("=", "+", "-", "@")  # cells are stripped first, so no \t or \r
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CONTROL_BYTES = re.compile(rb"[\x01-\x08\x0e-\x1f\x7f]")  # \v and \f: in-cell breaks in some exports
_EMPTY_LINE = re.compile(r"[\s,;]*")  # Excel writes an empty row as its delimiters

# Normalised header (lower-case, letters and digits only) -> the field it fills.
_HEADER_ALIASES = {
    "linkedin_url": (  # ours, then Apollo's and other tools' exports
        "linkedin",
        "linkedinurl",
        "linkedinprofile",
        "profileurl",
        "linkedinprofileurl",
        "url",
        "personlinkedinurl",
        "linkedinlink",
        "profilelink",
    ),
    "email": (  # English, then German, French and Spanish spreadsheets
        "email",
        "emailaddress",
        "mail",
        "workemail",
        "businessemail",
        "emailadresse",
        "adresseemail",
        "courriel",
        "correo",
        "correoelectrónico",
        "correoelectronico",
    ),
    "full_name": ("name", "fullname"),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname"),
    "company": ("company", "companyname", "organization", "organisation", "account"),
    "title": ("title", "jobtitle", "position"),
}
_FIELD_BY_HEADER = {alias: field for field, aliases in _HEADER_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class LeadRow:
    line: int
    key: str
    linkedin_url: str | None
    email: str | None
    full_name: str | None
    company: str | None
    title: str | None


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass(frozen=True)
class Limits:
    """Caps that keep one upload's cost bounded; max_rows counts every non-blank data row, bad ones too."""

    max_bytes: int = 50 * 2**20
    max_rows: int = 1_000_000
    max_line_bytes: int = 64 * 1024


DEFAULT_LIMITS = Limits()


class LeadFileError(ValueError):
    """The file as a whole cannot be used; `code` is stable, the message tells the user what to do."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def read_leads(stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> Iterator[LeadRow | BadRow]:
    """Rows of the file in order, each a LeadRow or a BadRow with its 1-based physical line number.

    Decoding and the header are checked before this returns, so an empty, binary or identity-less
    file raises LeadFileError at the call; size limits can only be found while reading and raise
    from the iterator. Blank rows are skipped silently.
    """
    lines = _RecordLines(_decoded_lines(stream, limits), limits.max_line_bytes)
    skipped = 0
    for first in lines:
        if not _EMPTY_LINE.fullmatch(first):
            break
        skipped += 1
        lines.start_record(skipped + 1)
    else:
        raise LeadFileError(
            "empty_file", "The file is empty: upload a CSV with a header row and one lead per line."
        )
    reader = csv.reader(itertools.chain([first], lines), delimiter=_sniff_delimiter(first))
    columns = _columns(next(reader))
    return _rows(reader, lines, columns, skipped, limits)


@dataclass(frozen=True)
class Duplicate:
    """A row naming a lead an earlier row of the file already named (R18: folded, charged once)."""

    line: int


def read_distinct(
    stream: BinaryIO, limits: Limits = DEFAULT_LIMITS
) -> Iterator[LeadRow | BadRow | Duplicate]:
    """`read_leads`, with each later row of an already-seen lead reported as a Duplicate.

    Keys are remembered as 16-byte BLAKE2b digests rather than strings, so a million-row file costs
    a set of fixed-size entries instead of a million URLs.
    """
    seen: set[bytes] = set()
    for row in read_leads(stream, limits):
        if isinstance(row, LeadRow):
            digest = hashlib.blake2b(row.key.encode("utf-8"), digest_size=16).digest()
            if digest in seen:
                yield Duplicate(row.line)
                continue
            seen.add(digest)
        yield row


def _rows(
    reader, lines: _RecordLines, columns: dict[str, list[int]], skipped: int, limits: Limits
) -> Iterator[LeadRow | BadRow]:
    count = 0
    while True:
        line = skipped + reader.line_num + 1
        lines.start_record(line)
        try:
            cells: list[str] | csv.Error = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells = exc
        if isinstance(cells, list) and not any(cell.strip() for cell in cells):
            continue
        count += 1
        if count > limits.max_rows:
            raise LeadFileError(
                "too_many_rows",
                f"The file has more than {limits.max_rows:,} rows: split it into smaller files.",
            )
        yield (
            _row(line, cells, columns)
            if isinstance(cells, list)
            else BadRow(line, f"could not be read as CSV ({cells})")
        )


def _row(line: int, cells: list[str], columns: dict[str, list[int]]) -> LeadRow | BadRow:
    if any("\x00" in cell for cell in cells):
        return BadRow(line, "contains binary data (NUL bytes)")

    def value(field: str) -> str | None:
        for index in columns.get(field, ()):
            if index < len(cells) and cells[index].strip():
                return cells[index].strip()
        return None

    problems = []
    linkedin_url = email = None
    raw_url, raw_email = value("linkedin_url"), value("email")
    if raw_url is not None:
        if raw_url.startswith(_FORMULA_PREFIXES):
            problems.append("the LinkedIn URL is a formula, not a URL")
        else:
            try:
                linkedin_url = canonical_linkedin_url(raw_url)
            except InvalidProfileUrl:
                problems.append(f"{_shown(raw_url)} is not a LinkedIn profile URL")
    if raw_email is not None:
        if raw_email.startswith(_FORMULA_PREFIXES):
            problems.append("the email is a formula, not an address")
        elif len(raw_email) > MAX_EMAIL and _EMAIL_SHAPE.fullmatch(raw_email):
            problems.append(f"the email is longer than {MAX_EMAIL} characters")
        elif _EMAIL_SHAPE.fullmatch(raw_email):
            email = raw_email
        else:
            problems.append(f"{_shown(raw_email)} is not an email address")
    key = linkedin_url or (email_key(email) if email else None)
    if key is None:
        if not problems:
            return BadRow(line, "no LinkedIn URL or email")
        return BadRow(line, "no usable LinkedIn URL or email: " + "; ".join(problems))
    first_and_last = " ".join(filter(None, (value("first_name"), value("last_name"))))
    full_name = value("full_name") or first_and_last or None
    return LeadRow(
        line, key, linkedin_url, email, _cut(full_name), _cut(value("company")), _cut(value("title"))
    )


def _cut(text: str | None) -> str | None:
    """Free-text cells are kept to what the product stores (names, companies, titles)."""
    return text[:MAX_TEXT] if text else text


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _columns(header: list[str]) -> dict[str, list[int]]:
    """Field -> column indexes, in file order (the first non-empty one wins per row)."""
    columns: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        field = _FIELD_BY_HEADER.get(re.sub(r"[\W_]+", "", name.lower()))
        if field:
            columns.setdefault(field, []).append(index)
    if "linkedin_url" not in columns and "email" not in columns:
        found = ", ".join(_shown(name.strip()) for name in header[:20] if name.strip()) or "none"
        raise LeadFileError(
            "no_identity_column",
            f"No LinkedIn URL or email column found (headers: {found}). The first line must be a "
            "header row with a column named e.g. 'LinkedIn URL' or 'Email'.",
        )
    return columns


def _sniff_delimiter(header_line: str) -> str:
    """The most frequent of comma, semicolon and tab outside quotes; comma for a one-column file."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class _RecordLines:
    """Feeds csv.reader and bounds one record's size.

    A quoted field may span lines, so an unclosed quote would make the csv module gather the
    rest of the file into one record; counting the characters a record has pulled stops that
    at max_line_bytes.
    """

    def __init__(self, lines: Iterator[str], max_record: int):
        self._lines = lines
        self._max = max_record
        self._line = 1
        self._size = 0

    def start_record(self, line: int) -> None:
        self._line, self._size = line, 0

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        text = next(self._lines)
        self._size += len(text) - 1
        if self._size > self._max:
            raise _line_too_long(self._line, self._max)
        return text


def _decoded_lines(stream: BinaryIO, limits: Limits) -> Iterator[str]:
    """Physical lines as text ending in a single "\\n", whatever the encoding and line endings.

    UTF-8 (BOM or not) and UTF-16 with a BOM are decoded as such; a file whose first 64 KiB are
    not valid UTF-8 is Latin-1 (`_legacy`). In a UTF-8 file, a later line that is not valid UTF-8
    is decoded as Latin-1 on its own, since exports concatenated from several tools do that.
    """
    chunks = _raw_chunks(stream, limits.max_bytes)
    sample = b""
    for chunk in chunks:
        sample += chunk
        if len(sample) >= _CHUNK:
            break
    body: Iterable[bytes] = itertools.chain([sample], chunks)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body = _utf16_to_utf8(body)
        sample = next(body, b"")
        body = itertools.chain([sample], body)
    elif sample.startswith(codecs.BOM_UTF8):
        sample = sample[len(codecs.BOM_UTF8) :]
        body = itertools.chain([sample], chunks)
    if _looks_binary(sample):
        raise LeadFileError(
            "not_text",
            "This is not a CSV text file (it looks binary, e.g. an Excel .xlsx or a PDF). "
            "Save or export it as CSV (UTF-8) and upload that.",
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        latin1 = False
    except UnicodeDecodeError:
        latin1 = True
    for line in _split_lines(body, limits.max_line_bytes):
        if latin1:
            yield _legacy(line) + "\n"
            continue
        try:
            yield line.decode("utf-8") + "\n"
        except UnicodeDecodeError:
            yield _legacy(line) + "\n"


def _legacy(line: bytes) -> str:
    """Latin-1 as Windows writes it (Excel's "CSV" is the ANSI code page, cp1252): bytes 0x80-0x9f
    are ’ – € …, not control characters; a line with one of cp1252's five unused bytes is Latin-1."""
    try:
        return line.decode("cp1252")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _looks_binary(sample: bytes) -> bool:
    """NUL bytes or other control characters making up over 1% of the sample: a few stray ones in a
    text file are bad rows (`_row`), not a binary file."""
    controls = len(_CONTROL_BYTES.findall(sample))
    return sample.count(b"\x00") * 100 > len(sample) or (controls > 4 and controls * 100 > len(sample))


def _raw_chunks(stream: BinaryIO, max_bytes: int) -> Iterator[bytes]:
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise LeadFileError(
                "too_large",
                f"The file is larger than {max_bytes / 2**20:g} MB: split it into smaller files.",
            )
        yield chunk


def _utf16_to_utf8(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-encode as UTF-8 so one byte-level line splitter serves every encoding."""
    decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


def _split_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """Lines without their terminator (\\n, \\r\\n or a lone \\r), never one over max_line_bytes.

    A line is only ever held up to max_line_bytes plus one chunk, so a 50 MB line fails after
    reading its first chunks instead of being gathered whole.
    """
    pending = b""
    number = 0
    for chunk in chunks:
        lines = (pending + chunk).splitlines(keepends=True)
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            number += 1
            content = line.rstrip(b"\r\n")
            if len(content) > max_line_bytes:
                raise _line_too_long(number, max_line_bytes)
            yield content
        if len(pending.rstrip(b"\r")) > max_line_bytes:
            raise _line_too_long(number + 1, max_line_bytes)
    if pending:
        yield pending.rstrip(b"\r")


def _line_too_long(line: int, max_line_bytes: int) -> LeadFileError:
    return LeadFileError(
        "line_too_long",
        f"Line {line} is longer than {max_line_bytes // 1024 or 1} KB (an unclosed quote?): "
        "check the file and export it again as CSV.",
    )
