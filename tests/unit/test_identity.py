"""R1: one person, however the tab spells the URL; anything else refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.domain import identity
from backend.domain.errors import InvalidProfileUrl
from backend.domain.identity import canonical_linkedin_url

CANON = "https://www.linkedin.com/in/jane-doe"


@pytest.mark.parametrize(
    "spelling",
    [
        "https://www.linkedin.com/in/jane-doe",
        "https://www.linkedin.com/in/Jane-Doe/",
        "http://linkedin.com/in/jane-doe?trk=public_profile#top",
        "linkedin.com/in/jane-doe/",
        "www.linkedin.com/in/jane-doe",
        "https://de.linkedin.com/in/jane-doe",
        "https://www.linkedin.com/in/jane-doe/details/experience/",
        "https://www.linkedin.com/in/jane-doe/overlay/contact-info/",
        "https://www.linkedin.com/in/jane-doe/recent-activity/all/",
        "  https://WWW.LINKEDIN.COM/in/jane-doe  ",
        "https://www.linkedin.com/in/jane%2Ddoe",
    ],
)
def test_r1_every_spelling_folds_to_one_canonical_url(spelling):
    assert canonical_linkedin_url(spelling) == CANON


def test_r1_percent_encoded_slug_is_decoded():
    assert (
        canonical_linkedin_url("https://www.linkedin.com/in/J%C3%BCrgen-m")
        == "https://www.linkedin.com/in/jürgen-m"
    )


def test_r1_one_slug_in_two_unicode_forms_is_one_person():
    composed, decomposed = "j%C3%A9r%C3%B4me", "je%CC%81ro%CC%82me"  # NFC and NFD spellings of jérôme
    assert canonical_linkedin_url(f"linkedin.com/in/{composed}") == canonical_linkedin_url(
        f"linkedin.com/in/{decomposed}"
    )


def test_r1_the_canonical_url_folds_to_itself():
    """Routes fold a URL in the schema and again in the service: the second fold must change nothing,
    or one person becomes two (a doubly encoded slug decoded twice)."""
    for raw in ("linkedin.com/in/J%C3%BCrgen-m", "linkedin.com/in/jane-doe/details/"):
        once = canonical_linkedin_url(raw)
        assert canonical_linkedin_url(once) == once
    with pytest.raises(InvalidProfileUrl):  # decoded once it still holds a '%': no LinkedIn slug does
        canonical_linkedin_url("https://www.linkedin.com/in/jane%252D1")


def _folded(fold, raw):
    try:
        return fold(raw)
    except InvalidProfileUrl:
        return InvalidProfileUrl


@given(st.text(st.characters(max_codepoint=0x7F), max_size=210), st.sampled_from(["", "/", "?x", " "]))
def test_r1_a_url_answered_as_already_canonical_is_what_folding_it_gives(slug, tail):
    """The short way for a URL already in canonical form answers what the whole fold would."""
    raw = f"https://www.linkedin.com/in/{slug}{tail}"
    assert _folded(canonical_linkedin_url, raw) == _folded(identity._fold, raw)


@pytest.mark.parametrize(
    "bad",
    [
        "https://www.linkedin.com/company/acme",
        "https://www.linkedin.com/pub/jane-doe/1/2/3",
        "https://www.linkedin.com/in/",
        "https://evil.example/in/jane-doe",
        "https://linkedin.com.evil.example/in/jane-doe",
        "ftp://www.linkedin.com/in/jane-doe",
        "javascript:alert(1)",
        "https://[linkedin.com/in/jane-doe",  # urlsplit's "Invalid IPv6 URL" (found by schemathesis)
        "]linkedin.com/in/x[",
        "",
        "   ",
    ],
)
def test_r1_anything_but_an_in_profile_is_refused(bad):
    with pytest.raises(InvalidProfileUrl):
        canonical_linkedin_url(bad)


@pytest.mark.parametrize("bad", ["https://www.linkedin.com/in/ab%00c", "https://www.linkedin.com/in/a%0Ab"])
def test_r1_control_characters_in_a_slug_are_refused(bad):
    with pytest.raises(InvalidProfileUrl):
        canonical_linkedin_url(bad)
