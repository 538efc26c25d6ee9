"""Every parser of what users type, fed arbitrary text: it reads a value or raises InputError, never
anything else, and what it reads it would read again the same."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.errors import InputError
from bot.facts import FIELDS, STATUSES, split_person
from bot.inputs import (
    check_text,
    read_aliases,
    read_description,
    read_fact,
    read_person,
    read_slug,
    read_source,
    read_source_date,
    read_title,
    read_value,
)

TODAY = date(2026, 11, 24)
anything = st.text(st.characters(codec="utf-8"), max_size=600)

# What people type, in the forms the readers rewrite (so that a rewrite that goes wrong is found, not
# only text no reader accepts).
WORDS = st.text(st.characters(categories=("L", "Nd")), min_size=1, max_size=12)
# A name of letters and spaces (not only spaces, and without the word "as", which would make "Name as
# Role" ambiguous), and a one-word role.
NAMES = st.text(st.characters(categories=("L", "Zs")), min_size=1, max_size=40).filter(
    lambda name: name.strip() and not re.search(r"(^|\s)as(\s|$)", name, re.IGNORECASE)
)
ROLES = st.text(st.characters(categories=("L",)), min_size=1, max_size=40)
PERSON_FORMS = ("{} — {}", "{} - {}", "{} – {}", "{} as {}", "{} ({})")
PEOPLE = st.builds(str.format, st.sampled_from(PERSON_FORMS), NAMES, ROLES)
DATES = st.builds(
    lambda day, form: form.format(day),
    st.dates(date(1990, 1, 1), TODAY),
    st.sampled_from(["{:%Y-%m-%d}", "{:%d %B %Y}", "{:%b %d, %Y}", "{:%B %Y}", "{:%Y}"]),
)
LINKS = st.builds(
    "{}{}.example/{}".format,
    st.sampled_from(["https://", "http://", "HTTPS://", "www.", "WWW."]),
    WORDS,
    WORDS,
)
typed = st.one_of(
    anything,
    PEOPLE,
    DATES,
    LINKS,
    WORDS,
    st.integers(0, 12_000).map(str),
    st.sampled_from(STATUSES).map(str.upper),
)


def reads_or_refuses(parse, *args) -> object:  # type: ignore[no-untyped-def]  # any reader, any arguments
    try:
        return parse(*args)
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return None


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(FIELDS)),
    typed,
    st.one_of(anything, LINKS, WORDS),
    st.one_of(st.none(), anything, DATES),
)
@example("cast", "0", "0", "0\n0")  # a date with a line break once reached the one-line refusal whole
def test_read_fact_never_raises_anything_but_input_error(
    field: str, value: str, source: str, when: str | None
) -> None:
    """Catches a reader that lets another exception out (the user would get "something went wrong"),
    refuses in more than one line, stores an empty or over-long value or a fact without its source and
    date, or stores what it would itself change or refuse when a moderator submits it again unchanged
    (the edit form shows the stored value, source and date)."""
    fact = reads_or_refuses(read_fact, field, value, source, when, TODAY)
    if fact is not None:
        assert fact.field == field
        assert fact.value and len(fact.value) <= FIELDS[field].limit
        assert fact.source and fact.source_date
        assert read_fact(field, fact.value, fact.source, fact.source_date, TODAY) == fact


@given(typed)
def test_every_single_parser_reads_or_refuses(text: str) -> None:
    """Catches a parser that lets another exception out or refuses in more than one line, and one that
    returns what it would itself change or refuse if given it back (a stored slug, title, source or
    date that no longer passes its own reader)."""
    for parse in (read_source, read_slug, read_title, read_description, read_person):
        read = reads_or_refuses(parse, text)
        if read is not None:
            assert parse(read) == read, parse.__name__
    aliases = reads_or_refuses(read_aliases, text)
    if aliases is not None:
        assert read_aliases(", ".join(aliases)) == aliases
    day = reads_or_refuses(read_source_date, text, TODAY)
    if day is not None:
        assert read_source_date(day, TODAY) == day
    checked = reads_or_refuses(check_text, "It", text, 100)
    if checked is not None:
        assert check_text("It", checked, 100) == checked
    reads_or_refuses(read_value, text[:20], "x")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Jane Doe — Agent Nine", "Jane Doe — Agent Nine"),
        ("Jane Doe - Agent Nine", "Jane Doe — Agent Nine"),
        ("Jane Doe as Agent Nine", "Jane Doe — Agent Nine"),
        ("Jane Doe (Agent Nine)", "Jane Doe — Agent Nine"),
        ("Jane Doe", "Jane Doe"),
        ("Jean-Luc Picard", "Jean-Luc Picard"),  # a hyphen inside a name is not a role
    ],
)
def test_people_with_roles_in_every_common_form(typed: str, stored: str) -> None:
    assert read_value("cast", typed) == stored


@given(NAMES, ROLES, st.sampled_from(PERSON_FORMS))
def test_a_name_and_a_role_round_trip(name: str, role: str, form: str) -> None:
    """Catches a reader that loses the role (or the name), swaps them, or keeps the form's separator in
    either: in every form people type, the stored value gives back exactly that name and that role."""
    assert split_person(read_person(form.format(name, role))) == (name.strip(), role)


@pytest.mark.parametrize(
    ("source", "stored"),
    [
        ("https://collider.com/x", "https://collider.com/x"),
        ("www.variety.com/a", "https://www.variety.com/a"),
        ("Rolling Stone, print edition", "Rolling Stone, print edition"),
    ],
)
def test_sources_are_links_or_publications(source: str, stored: str) -> None:
    assert read_source(source) == stored


@pytest.mark.parametrize(
    "source",
    ["javascript:alert(1)", "ftp://example.org/x", "data:text/html,hi", "https://", "file:///etc/passwd"],
)
def test_sources_that_are_not_web_links_are_refused(source: str) -> None:
    with pytest.raises(InputError, match="web link"):
        read_source(source)


def test_source_dates_keep_their_precision_and_default_to_today() -> None:
    assert read_source_date(None, TODAY) == "2026-11-24"
    assert read_source_date("", TODAY) == "2026-11-24"
    assert read_source_date("October 2024", TODAY) == "2024-10"
    assert read_source_date("17 Oct 2024", TODAY) == "2024-10-17"
    with pytest.raises(InputError, match="future"):
        read_source_date("2026-12", TODAY)


@pytest.mark.parametrize("slug", ["show", "search", "Season 3", "-x", "a" * 33, "über", ""])
def test_bad_slugs_are_refused(slug: str) -> None:
    with pytest.raises(InputError):
        read_slug(slug)


def test_aliases_are_split_trimmed_and_deduplicated() -> None:
    assert read_aliases(" S3, season 3 ,S3,, ") == ("S3", "season 3")
    with pytest.raises(InputError, match="limit is 20"):
        read_aliases(",".join(f"a{i}" for i in range(21)))
