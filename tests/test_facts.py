"""The pure domain: release dates and their precision, value parsing, and matching what fans type to entries."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.facts import (
    FIELDS,
    DateError,
    Entry,
    EntryIndex,
    Precision,
    ReleaseDate,
    entry_terms,
    fact_key,
    find_entry,
    format_person,
    match_entries,
    normalize,
    parse_value,
    split_person,
)

ENTRIES = (
    Entry("mothership", "Citadel", aliases=("Citadel", "original", "season 1", "US"), position=10),
    Entry(
        "season-2",
        "Citadel season 2",
        aliases=("season 2", "S2", "Citadel 2"),
        parent="mothership",
        position=20,
    ),
    Entry(
        "diana", "Citadel: Diana", aliases=("Diana", "Italy", "Italian", "Matilda De Angelis"), position=30
    ),
    Entry(
        "honey-bunny",
        "Citadel: Honey Bunny",
        aliases=("Honey Bunny", "India", "Indian", "Hindi"),
        position=40,
    ),
    Entry("spain", "Spanish Citadel spin-off", aliases=("Spain", "Spanish"), position=50),
)


@pytest.mark.parametrize(
    ("text", "precision", "canonical", "label"),
    [
        ("2024", Precision.YEAR, "2024", "2024"),
        ("Q2 2026", Precision.QUARTER, "Q2 2026", "Q2 2026"),
        ("2026-q2", Precision.QUARTER, "Q2 2026", "Q2 2026"),
        ("2024-10", Precision.MONTH, "2024-10", "October 2024"),
        ("October 2024", Precision.MONTH, "2024-10", "October 2024"),
        ("Sept 2024", Precision.MONTH, "2024-09", "September 2024"),
        ("2024-10-10", Precision.DAY, "2024-10-10", "10 October 2024"),
        ("10 October 2024", Precision.DAY, "2024-10-10", "10 October 2024"),
        ("October 10, 2024", Precision.DAY, "2024-10-10", "10 October 2024"),
        ("7th Nov 2024", Precision.DAY, "2024-11-07", "7 November 2024"),
        ("2024-10-10T20:00Z", Precision.DAY, "2024-10-10 20:00 UTC", "10 October 2024"),
    ],
)
def test_release_dates_keep_their_precision(
    text: str, precision: Precision, canonical: str, label: str
) -> None:
    when = ReleaseDate.parse(text)
    assert when.precision is precision
    assert str(when) == canonical
    assert when.label() == label
    assert ReleaseDate.parse(str(when)) == when


def test_a_year_is_a_window_not_the_first_of_january() -> None:
    when = ReleaseDate.parse("2024")
    assert when.moment() is None
    assert when.window() == (date(2024, 1, 1), date(2024, 12, 31))
    assert ReleaseDate.parse("Q2 2026").window() == (date(2026, 4, 1), date(2026, 6, 30))
    assert ReleaseDate.parse("2024-02").window() == (date(2024, 2, 1), date(2024, 2, 29))


def test_a_day_is_midnight_utc_unless_a_time_is_known() -> None:
    assert ReleaseDate.parse("2024-10-10").moment() == datetime(2024, 10, 10, tzinfo=UTC)
    assert ReleaseDate.parse("2024-10-10 20:00 +02:00").moment() == datetime(2024, 10, 10, 18, tzinfo=UTC)


def test_a_window_has_passed_only_after_its_last_day() -> None:
    q2 = ReleaseDate.parse("Q2 2026")
    assert not q2.has_passed(date(2026, 6, 30))
    assert q2.has_passed(date(2026, 7, 1))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2024-02-30", "February 2024 has 29 days"),
        ("2023-02-29", "February 2023 has 28 days"),
        ("2024-13", "Month 13 does not exist"),
        ("Smarch 2024", "is not a month"),
        ("next spring", "can't read"),
        ("1850", "out of range"),
        ("2024-10-10 25:00", "not a time of day"),
        ("", "can't read"),
    ],
)
def test_impossible_or_unreadable_dates_say_what_would_be_accepted(text: str, says: str) -> None:
    with pytest.raises(DateError, match=says):
        ReleaseDate.parse(text)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_every_real_day_round_trips_in_every_written_form(day: date) -> None:
    forms = [
        day.isoformat(),
        f"{day.day} {calendar.month_name[day.month]} {day.year}",
        f"{calendar.month_abbr[day.month]} {day.day}, {day.year}",
    ]
    for form in forms:
        when = ReleaseDate.parse(form)
        assert when.window() == (day, day)
        assert when.moment() == datetime.combine(day, time(0), tzinfo=UTC)


@given(st.text(max_size=60))
def test_parsing_arbitrary_text_either_reads_a_date_or_raises_date_error(text: str) -> None:
    try:
        when = ReleaseDate.parse(text)
    except DateError as exc:
        assert str(exc)
    else:
        assert ReleaseDate.parse(str(when)) == when


@given(
    # Wall-clock times read with an offset: hypothesis takes naive bounds for naive datetimes.
    st.datetimes(min_value=datetime(1901, 1, 2), max_value=datetime(2099, 12, 30)),  # noqa: DTZ001
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_times_with_an_offset_name_the_same_instant(moment: datetime, offset_minutes: int) -> None:
    moment = moment.replace(second=0, microsecond=0)
    zone = timezone(timedelta(minutes=offset_minutes))
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = f"{moment:%Y-%m-%d %H:%M} {sign}{hours:02d}:{minutes:02d}"
    assert ReleaseDate.parse(text).moment() == moment.replace(tzinfo=zone).astimezone(UTC)


def test_values_are_read_by_their_field() -> None:
    assert parse_value("status", " In  Production ") == "in production"
    assert parse_value("premiere", "10 October 2024") == "2024-10-10"
    assert parse_value("episodes", "6") == "6"
    assert parse_value("plot", "  two timelines  ") == "two timelines"
    for field_name, raw, says in [
        ("status", "delayed", "not a status"),
        ("episodes", "six", "whole number"),
        ("plot", "   ", "empty"),
        ("network", "x" * 61, "limit is 60"),
        ("colour", "red", "no field"),
        ("premiere", "2024-02-30", "29 days"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_value(field_name, raw)


@given(st.sampled_from(sorted(FIELDS)), st.text(max_size=400))
def test_no_text_makes_a_parser_raise_anything_but_value_error(field_name: str, text: str) -> None:
    try:
        value = parse_value(field_name, text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert value and len(value) <= FIELDS[field_name].limit


def test_people_keep_their_role_and_multi_valued_facts_are_keyed_by_name() -> None:
    value = format_person("Kay Kay Menon", "Guru")
    assert value == "Kay Kay Menon — Guru"
    assert split_person(value) == ("Kay Kay Menon", "Guru")
    assert split_person("Jack Reynor") == ("Jack Reynor", None)
    assert fact_key("cast", value) == fact_key("cast", "Kay Kay Menon — Baba") == "kay kay menon"
    assert fact_key("premiere", "2024") == ""


def test_normalize_folds_case_accents_and_punctuation() -> None:
    assert normalize("Citadel: Diána!") == "citadel diana"
    assert normalize("  HONEY—bunny ") == "honey bunny"


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("Diana", "diana"),
        ("Italy", "diana"),
        ("Italian", "diana"),
        ("ital", "diana"),
        ("Honey Bunny", "honey-bunny"),
        ("India", "honey-bunny"),
        ("season 2", "season-2"),
        ("Citadel", "mothership"),
        ("diána", "diana"),
        ("de angelis", "diana"),
    ],
)
def test_what_fans_type_finds_the_entry(typed: str, slug: str) -> None:
    assert match_entries(typed, ENTRIES)[0].slug == slug
    found = find_entry(typed, ENTRIES)
    assert found is not None and found.slug == slug


def test_an_ambiguous_or_unknown_name_is_not_guessed() -> None:
    assert find_entry("season", ENTRIES) is None  # season 1 and season 2 match equally
    assert find_entry("narnia", ENTRIES) is None
    assert match_entries("narnia", ENTRIES) == []
    assert [e.slug for e in match_entries("", ENTRIES)] == [
        "mothership",
        "season-2",
        "diana",
        "honey-bunny",
        "spain",
    ]


@given(st.text(max_size=120))
def test_matching_never_raises_and_never_returns_more_than_asked(text: str) -> None:
    assert len(match_entries(text, ENTRIES, limit=3)) <= 3
    find_entry(text, ENTRIES)


def _ranked_by_scanning(query: str, entries: tuple[Entry, ...], limit: int) -> list[str]:
    """The plain-match ranking written the slow, obvious way: every name of every entry."""
    wanted = normalize(query)
    scored = []
    for entry in sorted(entries, key=lambda e: (e.position, e.slug)):
        best = 0
        for term in entry_terms(entry):
            if term == wanted:
                best = max(best, 100)
            elif term.startswith(wanted):
                best = max(best, 80)
            elif f" {wanted}" in f" {term}":
                best = max(best, 60)
            elif wanted in term:
                best = max(best, 40)
        if best:
            scored.append((best, entry.slug))
    scored.sort(key=lambda pair: -pair[0])
    return [slug for _, slug in scored[:limit]]


_NAMES = st.text(alphabet="abcdeit 2:-", min_size=1, max_size=12)
_ENTRY_LISTS = st.lists(
    st.builds(
        lambda slug, title, aliases, position: Entry(slug, title, aliases=tuple(aliases), position=position),
        st.from_regex(r"[a-z]{1,6}", fullmatch=True),
        _NAMES,
        st.lists(_NAMES, max_size=3),
        st.integers(0, 5),
    ),
    max_size=12,
    unique_by=lambda e: e.slug,
)


@given(_ENTRY_LISTS, st.text(alphabet="abcdeit 2", min_size=1, max_size=5))
def test_the_entry_index_ranks_exactly_as_scanning_every_name(entries: list[Entry], typed: str) -> None:
    index = EntryIndex(entries)
    expected = _ranked_by_scanning(typed, tuple(entries), 25)
    if expected or len(normalize(typed)) < 3:  # near spellings are the fuzzy pass's business
        assert [e.slug for e in match_entries(typed, index)] == expected
        assert [e.slug for e in match_entries(typed, entries)] == expected
    assert list(index) == entries and index.by_slug == {e.slug: e for e in entries}


def test_the_entry_index_finds_a_name_in_the_last_and_the_first_entry_of_many() -> None:
    many = [Entry(f"gen-{i:04d}", f"Generated series {i:04d}", position=i) for i in range(1000)]
    index = EntryIndex([*many, *ENTRIES])
    assert [e.slug for e in match_entries("ital", index)] == ["diana"]
    assert [e.slug for e in match_entries("series 0999", index)] == ["gen-0999"]
    assert [e.slug for e in match_entries("series 0000", index)] == ["gen-0000"]
    assert len(match_entries("generated", index, limit=1000)) == 1000
