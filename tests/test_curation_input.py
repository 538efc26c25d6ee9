"""Every parser of what users type, fed arbitrary text: it reads a value or raises InputError, never anything else."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.curation import (
    InputError,
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
from bot.facts import FIELDS, split_person

TODAY = date(2026, 11, 24)
anything = st.text(st.characters(codec="utf-8"), max_size=600)


def reads_or_refuses(parse, *args) -> object:  # type: ignore[no-untyped-def]
    try:
        return parse(*args)
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message
        return None


@settings(max_examples=300)
@given(st.sampled_from(sorted(FIELDS)), anything, anything, st.one_of(st.none(), anything))
def test_read_fact_never_raises_anything_but_input_error(
    field: str, value: str, source: str, when: str | None
) -> None:
    fact = reads_or_refuses(read_fact, field, value, source, when, TODAY)
    if fact is not None:
        assert fact.value and len(fact.value) <= FIELDS[field].limit
        assert fact.source and fact.source_date


@given(anything)
def test_every_single_parser_reads_or_refuses(text: str) -> None:
    for parse in (read_source, read_slug, read_title, read_description, read_aliases, read_person):
        reads_or_refuses(parse, text)
    reads_or_refuses(read_source_date, text, TODAY)
    reads_or_refuses(check_text, "It", text, 100)
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


@given(
    st.text(st.characters(categories=("L", "Zs")), min_size=1, max_size=40),
    st.text(st.characters(categories=("L",)), min_size=1, max_size=40),
)
def test_a_name_and_a_role_round_trip(name: str, role: str) -> None:
    value = read_person(f"{name} — {role}")
    back_name, back_role = split_person(value)
    assert back_role == role.strip() or back_role is None


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
