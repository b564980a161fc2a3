"""Uploaded lead CSVs: encodings, delimiters, loose headers, identity, bad rows and hostile files."""

from __future__ import annotations

import io

import pytest

from backend.domain.lead_files import (
    DEFAULT_LIMITS,
    BadRow,
    LeadFileError,
    LeadRow,
    Limits,
    read_distinct,
    read_leads,
)

ANN_URL = "https://www.linkedin.com/in/ann-lee"


def rows(data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[LeadRow | BadRow]:
    return list(read_leads(io.BytesIO(data), limits))


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


class CountingStream(io.BytesIO):
    """Records how many bytes the reader pulled, to prove it stopped early."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.pulled = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.pulled += len(chunk)
        return chunk


# --- encodings -----------------------------------------------------------------------------------

TEXT = "LinkedIn URL,Name,Company\nlinkedin.com/in/ann-lee,Zoë Śmiałek,Café Zürich\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_reads_utf8_and_utf16_files_with_or_without_bom(encoding):
    if encoding.endswith("-bom"):
        codec = encoding.removesuffix("-bom")
        data = ("\ufeff" + TEXT).encode(codec)
    else:
        data = TEXT.encode(encoding)
    assert rows(data) == [LeadRow(2, ANN_URL, ANN_URL, None, "Zoë Śmiałek", "Café Zürich", None)]


def test_reads_latin1_files():
    data = "Email;Full name\njose@example.es;José Müller\n".encode("latin-1")
    [row] = rows(data)
    assert (row.email, row.full_name) == ("jose@example.es", "José Müller")


def test_excel_ansi_files_are_read_as_windows_1252_not_as_control_characters():
    data = "Email;Name;Company\r\nsean@x.ie;Seán O’Brien – CEO;Café €uro\r\n".encode("cp1252")
    [row] = rows(data)
    assert (row.full_name, row.company) == ("Seán O’Brien – CEO", "Café €uro")
    [row] = rows(b"Email,Name\nx@example.com,A\x81B\xe9\n")  # 0x81: unused in cp1252
    assert row.full_name == "A\x81Bé"


def test_a_latin1_line_deep_in_an_otherwise_ascii_file_is_still_decoded():
    lines = [f"p{i}@example.com,Person {i}" for i in range(3000)]
    lines.append("jose@example.es,José")
    data = ("Email,Name\n" + "\n".join(lines) + "\n").encode("latin-1")
    assert len(data) > 64 * 1024
    assert rows(data)[-1].full_name == "José"


# --- delimiters, line endings and headers --------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_sniffs_the_delimiter_and_accepts_any_line_ending(delimiter, newline):
    text = newline.join(
        [
            delimiter.join(["Email", "Company", "Title"]),
            delimiter.join(["ann@example.com", '"Lee, Smith & Co; Ltd"', "CTO"]),
            delimiter.join(["bob@example.com", "Acme", "VP"]),
        ]
    )
    result = rows(csv_bytes(text + newline))
    assert [(r.line, r.email, r.company, r.title) for r in result] == [
        (2, "ann@example.com", "Lee, Smith & Co; Ltd", "CTO"),
        (3, "bob@example.com", "Acme", "VP"),
    ]


def test_matches_headers_loosely_and_joins_first_and_last_names():
    text = (
        "  LinkedIn Profile URL ,E-Mail Address,First_Name,Last-Name,Organization,Job Title\n"
        "www.linkedin.com/in/ann-lee/,Ann@Example.com,Ann,Lee,Acme,CTO\n"
    )
    assert rows(csv_bytes(text)) == [
        LeadRow(2, ANN_URL, ANN_URL, "Ann@Example.com", "Ann Lee", "Acme", "CTO")
    ]


@pytest.mark.parametrize(
    "url_header,email_header",
    [
        ("Person Linkedin Url", "Email"),  # Apollo's export
        ("LinkedIn Link", "E-Mail-Adresse"),  # German Excel
        ("Profile Link", "Adresse e-mail"),  # French
        ("LinkedIn", "Correo electrónico"),  # Spanish
    ],
)
def test_exports_of_other_tools_and_languages_are_read_by_both_identity_columns(url_header, email_header):
    """A missed URL column keys the rows by email: the account would pay again for people it holds."""
    text = f"{url_header},{email_header}\nlinkedin.com/in/ann-lee,ann@example.com\n"
    [row] = rows(csv_bytes(text))
    assert (row.linkedin_url, row.email) == (ANN_URL, "ann@example.com")


def test_empty_rows_above_the_header_are_skipped_though_excel_writes_their_delimiters():
    text = ",,\r\n;;\r\n\r\nLinkedIn URL,Email,Name\r\nlinkedin.com/in/ann-lee,,Ann\r\n,,\r\n"
    assert rows(csv_bytes(text)) == [LeadRow(5, ANN_URL, ANN_URL, None, "Ann", None, None)]
    with pytest.raises(LeadFileError) as caught:
        read_leads(io.BytesIO(b",,,\r\n;;;\r\n"))
    assert caught.value.code == "empty_file"


def test_the_first_non_empty_of_two_email_columns_is_used():
    text = "Email,Work Email\n,ann@example.com\n"
    assert rows(csv_bytes(text))[0].email == "ann@example.com"


# --- identity and duplicates ---------------------------------------------------------------------


def test_a_valid_linkedin_url_is_the_key_else_the_lowercased_email():
    text = "url,email\nhttps://linkedin.com/in/Ann-Lee?trk=x,ann@example.com\n,Bob@Example.COM\n"
    assert [(r.key, r.linkedin_url, r.email) for r in rows(csv_bytes(text))] == [
        (ANN_URL, ANN_URL, "ann@example.com"),
        ("bob@example.com", None, "Bob@Example.COM"),
    ]


def test_an_invalid_url_falls_back_to_the_email():
    text = "url,email\nhttps://example.com/ann,ann@example.com\n"
    [row] = rows(csv_bytes(text))
    assert (row.key, row.linkedin_url) == ("ann@example.com", None)


def test_duplicates_are_folded_by_key_across_spellings():
    text = (
        "LinkedIn,Email\n"
        "https://www.linkedin.com/in/ann-lee,\n"
        "http://uk.linkedin.com/in/ANN-LEE/details/experience/,\n"
        ",bob@example.com\n"
        ",BOB@example.com \n"
        ",carol@example.com\n"
    )
    kinds = [type(r).__name__ for r in read_distinct(io.BytesIO(csv_bytes(text)))]
    assert (kinds.count("LeadRow"), kinds.count("Duplicate"), kinds.count("BadRow")) == (3, 2, 0)


# --- bad rows ------------------------------------------------------------------------------------


def test_bad_rows_carry_physical_line_numbers_and_good_rows_still_read():
    text = (
        "Name,LinkedIn URL,Email\n"  # line 1
        "Ann,linkedin.com/in/ann-lee,\n"  # 2
        "No One,,\n"  # 3
        "\n"  # 4: blank, skipped
        '"Multi\nLine Name",,bob@example.com\n'  # 5-6
        "Carol,https://example.com/carol,not-an-email\n"  # 7
        "Dan,,dan@example.com\n"  # 8
    )
    assert rows(csv_bytes(text)) == [
        LeadRow(2, ANN_URL, ANN_URL, None, "Ann", None, None),
        BadRow(3, "no LinkedIn URL or email"),
        LeadRow(5, "bob@example.com", None, "bob@example.com", "Multi\nLine Name", None, None),
        BadRow(
            7,
            "no usable LinkedIn URL or email: 'https://example.com/carol' is not a LinkedIn profile URL; "
            "'not-an-email' is not an email address",
        ),
        LeadRow(8, "dan@example.com", None, "dan@example.com", "Dan", None, None),
    ]


def test_a_nul_byte_past_the_first_64_kib_makes_a_bad_row_not_a_failed_upload():
    data = b"Email\n" + b"a@example.com\n" * 5000 + b"x\x00y@example.com\n" + b"b@example.com\n"
    result = rows(data)
    assert result[5000] == BadRow(5002, "contains binary data (NUL bytes)")
    assert result[5001].email == "b@example.com"


def test_a_stray_nul_byte_near_the_start_makes_a_bad_row_not_a_binary_file():
    data = b"Email,Name\n" + b"".join(b"p%d@example.com,Person %d\n" % (i, i) for i in range(50))
    data = data.replace(b"Person 1\n", b"Per\x00son 1\n", 1)
    result = rows(data)
    assert len(result) == 50 and result[1] == BadRow(3, "contains binary data (NUL bytes)")
    assert all(isinstance(r, LeadRow) for r in result[:1] + result[2:])


def test_a_cell_over_the_csv_field_limit_is_one_bad_row():
    data = b"Email,Note\na@example.com,ok\nb@example.com," + b"z" * 200_000 + b"\nc@example.com,ok\n"
    result = rows(data, Limits(max_line_bytes=300_000))
    assert [r.line for r in result] == [2, 3, 4]
    assert isinstance(result[1], BadRow) and "could not be read as CSV" in result[1].reason
    assert result[2].email == "c@example.com"


# --- formula cells -------------------------------------------------------------------------------


def test_formula_cells_are_kept_as_text_but_never_become_identity():
    text = (
        "LinkedIn URL,Email,Title,Company\n"
        '"=HYPERLINK(""https://linkedin.com/in/ann-lee"")",ann@example.com,=cmd|\'/c calc\'!A1,+Acme\n'
        "@linkedin.com/in/bob,,CTO,Acme\n"
        "-linkedin.com/in/carol,=carol@example.com,CTO,Acme\n"
    )
    first, second, third = rows(csv_bytes(text))
    assert (first.key, first.linkedin_url) == ("ann@example.com", None)
    assert (first.title, first.company) == ("=cmd|'/c calc'!A1", "+Acme")
    assert second == BadRow(3, "no usable LinkedIn URL or email: the LinkedIn URL is a formula, not a URL")
    assert isinstance(third, BadRow) and "the email is a formula" in third.reason


# --- whole-file failures -------------------------------------------------------------------------


def failure(data: bytes, limits: Limits = DEFAULT_LIMITS) -> LeadFileError:
    with pytest.raises(LeadFileError) as caught:
        rows(data, limits)
    return caught.value


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\r\n  \n", b"\xff\xfe"])
def test_an_empty_file_is_refused_at_the_call(data):
    with pytest.raises(LeadFileError) as caught:
        read_leads(io.BytesIO(data))
    assert caught.value.code == "empty_file"


def test_a_header_only_file_has_no_rows():
    assert rows(b"LinkedIn URL,Email\n") == []
    assert list(read_distinct(io.BytesIO(b"LinkedIn URL,Email\n"))) == []


def test_a_file_without_an_identity_column_is_refused_at_the_call_naming_its_headers():
    with pytest.raises(LeadFileError) as caught:
        read_leads(io.BytesIO(b"Name,Company\nAnn,Acme\n"))
    assert caught.value.code == "no_identity_column"
    assert "'Name', 'Company'" in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)) * 40,  # .xlsx (zip)
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        bytes(range(1, 32)) * 100,  # control-character garbage without NULs
        "Email\n".encode("utf-16-le"),  # UTF-16 without a BOM
    ],
)
def test_binary_files_are_refused_as_not_text(data):
    error = failure(data)
    assert error.code == "not_text"
    assert "CSV" in str(error)


def test_a_huge_single_line_fails_without_being_read_whole():
    stream = CountingStream(b"Email," + b"x" * 10_000_000 + b"\na@example.com\n")
    with pytest.raises(LeadFileError) as caught:
        list(read_leads(stream, Limits(max_line_bytes=1024)))
    assert caught.value.code == "line_too_long"
    assert "Line 1" in str(caught.value)
    assert stream.pulled < 1_000_000


def test_a_long_line_mid_file_is_reported_with_its_number():
    data = b"Email\na@example.com\nb@example.com," + b"y" * 5000 + b"\n"
    error = failure(data, Limits(max_line_bytes=1024))
    assert (error.code, "Line 3" in str(error)) == ("line_too_long", True)


def test_an_unclosed_quote_cannot_swallow_the_rest_of_the_file():
    data = b'Email,Name\na@example.com,"Ann\n' + b"b@example.com,Bob\n" * 500
    error = failure(data, Limits(max_line_bytes=1024))
    assert (error.code, "Line 2" in str(error)) == ("line_too_long", True)


def test_too_many_rows_fails_after_the_allowed_rows():
    data = b"Email\n" + b"".join(b"p%d@example.com\n" % i for i in range(5))
    reader = read_leads(io.BytesIO(data), Limits(max_rows=3))
    assert [next(reader).line for _ in range(3)] == [2, 3, 4]
    with pytest.raises(LeadFileError) as caught:
        next(reader)
    assert caught.value.code == "too_many_rows"


def test_too_large_a_file_fails_while_streaming():
    data = b"Email\n" + b"someone@example.com\n" * 100_000
    stream = CountingStream(data)
    with pytest.raises(LeadFileError) as caught:
        list(read_leads(stream, Limits(max_bytes=200_000)))
    assert caught.value.code == "too_large"
    assert stream.pulled < 200_000 + 64 * 1024 + 1


def test_overlong_cells_are_cut_or_refused_per_row_not_per_file():
    from backend.domain.lead_files import MAX_TEXT, BadRow, LeadRow, read_leads

    text = ("email,name\n" + "a@x.example," + "N" * 400 + "\n" + "b" * 260 + "@x.example,B\n").encode()
    good, bad = list(read_leads(io.BytesIO(text)))
    assert isinstance(good, LeadRow) and len(good.full_name) == MAX_TEXT
    assert isinstance(bad, BadRow) and "longer than" in bad.reason
