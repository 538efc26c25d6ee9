"""Rendering: premieres by precision, sources cited on every value, and embeds that Discord never refuses."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.facts import Entry, Fact
from bot.render import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
    Card,
    CardField,
    Style,
    cut,
    entry_card,
    fit,
    premiere_text,
    safe,
    to_embed,
    to_text,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DIANA = Entry("diana", "Citadel: Diana")


def fact(
    field: str, value: str, source: str = "https://example.org/a", when: str = "2024-09-11", note: str = ""
) -> Fact:
    return Fact(field, value, source, when, note=note)


def test_a_premiere_known_to_the_day_is_a_discord_timestamp() -> None:
    assert (
        premiere_text("2024-10-10", "released", NOW, Style.DISCORD) == "<t:1728518400:D> (<t:1728518400:R>)"
    )
    assert premiere_text("2024-10-10", "released", NOW, Style.TEXT) == "10 October 2024 (2 years ago)"
    assert premiere_text("2027-01-03", "announced", NOW, Style.TEXT) == "3 January 2027 (in 1 month)"


def test_a_premiere_known_to_the_year_quarter_or_month_is_never_the_first_of_january() -> None:
    assert premiere_text("2024", "released", NOW, Style.DISCORD) == "2024"
    assert premiere_text("2027-10", "announced", NOW, Style.DISCORD) == "October 2027"
    assert premiere_text("Q2 2027", "announced", NOW, Style.DISCORD) == "Q2 2027"


def test_a_passed_window_without_a_date_is_expected_and_unconfirmed() -> None:
    assert premiere_text("Q2 2026", "in production", NOW, Style.DISCORD) == "expected Q2 2026, not confirmed"
    assert premiere_text("2026-06", None, NOW, Style.TEXT) == "expected June 2026, not confirmed"
    assert premiere_text("Q4 2026", "announced", NOW, Style.TEXT) == "Q4 2026"  # still open


def test_every_value_cites_its_source_and_the_footer_names_them_with_dates() -> None:
    card = entry_card(
        DIANA,
        [
            fact("status", "cancelled", "https://www.fandompulse.com/p/x", "2025-04-16"),
            fact(
                "cast", "Matilda De Angelis — Diana Cavalieri", "Decider, Stream It Or Skip It", "2024-10-10"
            ),
            fact("director", "Arnaldo Catinari", "https://www.fandompulse.com/p/x", "2025-04-16"),
            fact("developer", "Alessandro Fabbri", note="OTTplay (2024-09-11) says Catinari created it"),
        ],
        NOW,
    )
    values = {f.name: f.value for f in card.fields}
    assert values["Status"] == "Cancelled [1]"
    assert values["Cast"] == "Matilda De Angelis — Diana Cavalieri [3]"  # numbered in the order shown
    assert values["Directed by"] == "Arnaldo Catinari [1]"
    assert (
        values["Developed by"] == "Alessandro Fabbri [2]\n↳ *OTTplay (2024-09-11) says Catinari created it*"
    )
    assert card.footer == (
        "Sources: [1] fandompulse.com, 2025-04-16 · [2] example.org, 2024-09-11 · [3] Decider, Stream It Or Skip It, 2024-10-10"
    )


def test_fields_with_nothing_known_are_left_out() -> None:
    card = entry_card(DIANA, [fact("network", "Prime Video")], NOW)
    assert [f.name for f in card.fields] == ["Network"]
    assert "None" not in to_text(card)
    assert entry_card(DIANA, [], NOW).description == "Nothing is known about this entry yet."


def test_user_text_cannot_ping_link_or_format() -> None:
    shown = safe("@everyone [free nitro](https://evil.example) <@123> **bold**", Style.DISCORD)
    assert shown == "\\@everyone \\[free nitro\\](https://evil.example) \\<\\@123> \\*\\*bold\\*\\*"
    assert (
        safe("see https://collider.com/citadel_s2 now", Style.DISCORD)
        == "see https://collider.com/citadel_s2 now"
    )


def test_cut_stops_at_a_word_with_an_ellipsis() -> None:
    assert cut("Milan, 2030, eight years after Citadel fell", 20) == "Milan, 2030, eight…"
    assert cut("short", 20) == "short"
    assert cut("x" * 50, 10) == "x" * 9 + "…"


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=1, max_value=2000))
def test_cut_never_exceeds_its_limit(text: str, limit: int) -> None:
    result = cut(text, limit)
    assert len(result) <= limit
    assert result == text or result.endswith("…")


texts = st.text(st.characters(codec="utf-8"), max_size=1500)


@settings(max_examples=60, deadline=None)
@given(
    st.text(max_size=400),
    st.text(max_size=6000),
    st.lists(st.tuples(st.text(max_size=300), texts, st.booleans()), max_size=40),
    st.text(max_size=3000),
)
def test_every_card_fits_discords_embed_limits(
    title: str, description: str, fields: list, footer: str
) -> None:
    card = fit(Card(title, description, tuple(CardField(*f) for f in fields), footer))
    assert len(card.title) <= 256 and len(card.description) <= DESCRIPTION_LIMIT and len(card.footer) <= 2048
    assert len(card.fields) <= 25
    assert all(1 <= len(f.name) <= 256 and 1 <= len(f.value) <= FIELD_VALUE_LIMIT for f in card.fields)
    assert card.total() <= EMBED_TOTAL_LIMIT
    embed = to_embed(card)
    assert len(embed) <= EMBED_TOTAL_LIMIT


def test_a_huge_entry_is_cut_not_refused() -> None:
    facts = [fact("cast", f"Actor {i} — " + "role " * 30) for i in range(200)]
    facts.append(fact("plot", "word " * 2000))
    card = entry_card(DIANA, facts, NOW)
    assert card.total() <= EMBED_TOTAL_LIMIT
    cast = next(f for f in card.fields if f.name == "Cast")
    assert len(cast.value) <= FIELD_VALUE_LIMIT and cast.value.endswith("…")
