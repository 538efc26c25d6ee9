"""The source clients (bot/sources) against fake TVmaze and Wikidata servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import aiohttp
import pytest

from bot.facts import parse_value
from bot.sources import Observation, RateLimiter, SourceError, TVmaze, Wikidata, get_json
from bot.sources.http import USER_AGENT, retry_after_seconds
from tests.fake_sources import (
    JULIAN,
    FakeTVmaze,
    FakeWikidata,
    channel,
    no_value_statement,
    quantity_statement,
    time_statement,
)

TODAY = date(2026, 5, 1)
SHOW = 100
SHOW_PAGE = "https://www.tvmaze.com/shows/100/citadel"
SEASON_2_PAGE = "https://www.tvmaze.com/seasons/10002/citadel-season-2"
CAST = [
    ("Richard Madden", "Mason Kane"),
    ("Priyanka Chopra Jonas", "Nadia Sinh"),
    ("Stanley Tucci", "Bernard Orlick"),
    ("Lesley Manville", "Dahlia Archer"),
]
ITEM = "Q100"
ITEM_PAGE = "https://www.wikidata.org/wiki/Q100"


def add_citadel(fake: FakeTVmaze, show_id: int = SHOW) -> None:
    """Citadel as TVmaze lists it: season 1 (six episodes, all aired) and season 2 (eight ordered, three listed)."""
    prime = channel("Prime Video", id=3)
    fake.add_show(
        show_id,
        name="Citadel",
        status="Running",
        premiered="2023-04-28",
        web_channel="Prime Video",
        seasons=[
            {
                "number": 1,
                "episodeOrder": 6,
                "premiereDate": "2023-04-28",
                "endDate": "2023-05-26",
                "webChannel": prime,
            },
            {"number": 2, "episodeOrder": 8, "premiereDate": "2026-05-06", "webChannel": prime},
        ],
        episodes=[(1, n, f"2023-05-{n:02d}") for n in range(1, 7)] + [(2, n, None) for n in range(1, 4)],
        cast=CAST,
    )


def seen(
    field: str, value: str, source: str = SHOW_PAGE, name: str = "TVmaze", day: date = TODAY
) -> Observation:
    return Observation(field, value, source, name, day.isoformat())


SHOW_OBSERVATIONS = [
    seen("status", "released"),
    seen("network", "Prime Video"),
    seen("premiere", "2023-04-28"),
    seen("episodes", "6"),
    seen("cast", "Richard Madden — Mason Kane"),
    seen("cast", "Priyanka Chopra Jonas — Nadia Sinh"),
    seen("cast", "Stanley Tucci — Bernard Orlick"),
    seen("cast", "Lesley Manville — Dahlia Archer"),
]


def paths(fake: FakeTVmaze | FakeWikidata) -> list[str]:
    return [path for _, path in fake.requests]


async def one_turn() -> None:
    """Let every task that is ready run until it waits: one pass of the event loop, no sleep."""
    loop = asyncio.get_running_loop()
    turned = loop.create_future()
    loop.call_soon(turned.set_result, None)
    await turned


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
async def tvmaze() -> AsyncIterator[FakeTVmaze]:
    async with FakeTVmaze() as fake:
        add_citadel(fake)
        yield fake


@pytest.fixture
async def wikidata() -> AsyncIterator[FakeWikidata]:
    async with FakeWikidata() as fake:
        fake.set_entity(ITEM, start="2023-04-28", precision=11, episodes=6)
        yield fake


# --- TVmaze -------------------------------------------------------------------------------------


async def test_a_show_entry_is_the_series_with_its_first_season(session, tvmaze) -> None:
    observed = await TVmaze(session, tvmaze.url).observe(SHOW, None, TODAY)
    assert observed == SHOW_OBSERVATIONS
    assert paths(tvmaze) == ["/shows/100?embed[]=seasons&embed[]=cast"]
    assert tvmaze.user_agents == [USER_AGENT] == ["citadel-bot (facts bot for Discord)"]
    for observation in observed:  # the canon accepts every value as it is
        assert parse_value(observation.field, observation.value) == observation.value


async def test_a_season_entry_is_released_from_its_premiere_day(session, tvmaze) -> None:
    client = TVmaze(session, tvmaze.url)
    before = await client.observe(SHOW, 2, date(2026, 5, 5))
    assert before == [
        seen("network", "Prime Video", SEASON_2_PAGE, day=date(2026, 5, 5)),
        seen("premiere", "2026-05-06", SEASON_2_PAGE, day=date(2026, 5, 5)),
        seen("episodes", "8", SEASON_2_PAGE, day=date(2026, 5, 5)),
    ]
    on_the_day = await client.observe(SHOW, 2, date(2026, 5, 6))
    assert on_the_day == [
        seen("status", "released", SEASON_2_PAGE, day=date(2026, 5, 6)),
        seen("network", "Prime Video", SEASON_2_PAGE, day=date(2026, 5, 6)),
        seen("premiere", "2026-05-06", SEASON_2_PAGE, day=date(2026, 5, 6)),
        seen("episodes", "8", SEASON_2_PAGE, day=date(2026, 5, 6)),
    ]
    assert paths(tvmaze) == ["/shows/100?embed[]=seasons"] * 2  # no cast for a season


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Running", "released"),
        ("Ended", "ended"),
        ("In Development", "in production"),
        ("To Be Determined", None),
    ],
)
async def test_tvmaze_statuses_map_to_the_canons(session, tvmaze, status, expected) -> None:
    tvmaze.shows[SHOW]["status"] = status
    observed = await TVmaze(session, tvmaze.url).observe(SHOW, None, TODAY)
    assert [o.value for o in observed if o.field == "status"] == ([expected] if expected else [])


async def test_episodes_are_counted_when_tvmaze_has_no_episode_order(session, tvmaze) -> None:
    for season in tvmaze.seasons[SHOW]:
        season["episodeOrder"] = None
    client = TVmaze(session, tvmaze.url)
    show = await client.observe(SHOW, None, TODAY)
    season_2 = await client.observe(SHOW, 2, TODAY)
    assert [o for o in show if o.field == "episodes"] == [seen("episodes", "6")]
    assert [o for o in season_2 if o.field == "episodes"] == [seen("episodes", "3", SEASON_2_PAGE)]
    assert paths(tvmaze) == [
        "/shows/100?embed[]=seasons&embed[]=cast",
        "/shows/100/episodes",
        "/shows/100?embed[]=seasons",
        "/shows/100/episodes",
    ]
    tvmaze.episodes[SHOW] = [e for e in tvmaze.episodes[SHOW] if e["season"] == 1]  # none listed yet
    assert [o.field for o in await client.observe(SHOW, 2, TODAY)] == ["network", "premiere"]


async def test_the_network_falls_back_from_season_to_show(session, tvmaze) -> None:
    tvmaze.shows[SHOW]["network"] = channel("Amazon Freevee", id=7)  # a network comes before a web channel
    tvmaze.seasons[SHOW][1]["webChannel"] = None
    client = TVmaze(session, tvmaze.url)
    assert [o.value for o in await client.observe(SHOW, None, TODAY) if o.field == "network"] == [
        "Amazon Freevee"
    ]
    assert [o.value for o in await client.observe(SHOW, 2, TODAY) if o.field == "network"] == [
        "Amazon Freevee"
    ]
    tvmaze.seasons[SHOW][1]["network"] = channel("BBC One", id=12)
    assert [o.value for o in await client.observe(SHOW, 2, TODAY) if o.field == "network"] == ["BBC One"]


async def test_missing_or_null_fields_give_no_observations(session, tvmaze) -> None:
    tvmaze.add_show(
        200,
        name="Citadel Untitled",
        status="To Be Determined",
        premiered=None,
        web_channel=None,
        seasons=[{"number": 1}],
    )
    tvmaze.shows[200]["url"] = "http://www.tvmaze.com/shows/200"  # not https: the link is built
    client = TVmaze(session, tvmaze.url)
    assert await client.observe(200, None, TODAY) == []
    assert await client.observe(200, 1, TODAY) == []
    tvmaze.shows[200]["premiered"] = "2027-01-15"
    tvmaze.seasons[200][0]["episodeOrder"] = 10
    assert await client.observe(200, None, TODAY) == [
        seen("premiere", "2027-01-15", "https://www.tvmaze.com/shows/200"),
        seen("episodes", "10", "https://www.tvmaze.com/shows/200"),
    ]


async def test_the_cast_is_one_credit_a_person_and_at_most_20(session, tvmaze) -> None:
    cast = [("Richard Madden", "Mason Kane"), ("Richard Madden", "Kyle Conroy"), ("Roland Møller", None)]
    cast += [(f"Actor {n}", f"Agent {n}") for n in range(1, 31)]
    tvmaze.add_show(300, name="Citadel Many", cast=cast)
    observed = await TVmaze(session, tvmaze.url).observe(300, None, TODAY)
    values = [o.value for o in observed if o.field == "cast"]
    assert values == ["Richard Madden — Mason Kane", "Roland Møller"] + [
        f"Actor {n} — Agent {n}" for n in range(1, 19)
    ]


async def test_an_unknown_season_raises(session, tvmaze) -> None:
    with pytest.raises(SourceError) as caught:
        await TVmaze(session, tvmaze.url).observe(SHOW, 3, TODAY)
    assert str(caught.value) == "TVmaze: show 100 has no season 3"


async def test_an_unknown_show_raises_404(session, tvmaze) -> None:
    with pytest.raises(SourceError) as caught:
        await TVmaze(session, tvmaze.url).observe(99999, None, TODAY)
    assert str(caught.value) == "TVmaze: show 99999 not found (404)"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("down", "TVmaze: show 100 answered HTTP 500"),
        ("slow", "TVmaze: show 100 timed out after 0.3 s"),
        ("malformed", "TVmaze: show 100 answered malformed JSON"),
    ],
)
async def test_tvmaze_failures_are_one_line_source_errors(session, tvmaze, mode, message) -> None:
    tvmaze.mode = mode
    with pytest.raises(SourceError) as caught:
        await TVmaze(session, tvmaze.url, timeout=0.3).observe(SHOW, None, TODAY)
    assert str(caught.value) == message
    assert len(tvmaze.requests) == 1  # none of them is retried


async def test_a_slow_tvmaze_is_given_up_on_after_the_timeout(session, tvmaze) -> None:
    tvmaze.mode = "slow"
    observing = asyncio.create_task(TVmaze(session, tvmaze.url, timeout=0.3).observe(SHOW, 2, TODAY))
    await tvmaze.wait_for_requests(1)
    assert not observing.done()  # the fake holds the request; the client's own timeout ends it
    with pytest.raises(SourceError) as caught:
        await observing
    assert str(caught.value) == "TVmaze: show 100 timed out after 0.3 s"


async def test_a_refused_connection_is_a_one_line_source_error(session) -> None:
    async with FakeTVmaze() as closed:
        url = closed.url
    with pytest.raises(SourceError) as caught:
        await TVmaze(session, url).observe(SHOW, None, TODAY)
    message = str(caught.value)
    assert message.startswith("TVmaze: show 100 failed: ") and "\n" not in message and len(message) < 160


async def test_json_of_the_wrong_kind_is_a_source_error(session, tvmaze) -> None:
    with pytest.raises(SourceError) as caught:
        await get_json(
            session,
            tvmaze.url + "/shows/100/seasons",
            limiter=None,
            source_name="TVmaze",
            what="show 100",
            timeout=5,
        )
    assert str(caught.value) == "TVmaze: show 100 answered unexpected JSON (a list, not an object)"


# --- rate limits --------------------------------------------------------------------------------


async def test_a_429_is_waited_out_then_retried(session, tvmaze) -> None:
    tvmaze.fail_next_429(retry_after=1)
    assert await TVmaze(session, tvmaze.url).observe(SHOW, None, TODAY) == SHOW_OBSERVATIONS
    assert tvmaze.throttled == 1 and tvmaze.violations == 0
    (refused, path), (answered, again) = tvmaze.requests
    assert path == again and answered - refused >= 1.0


async def test_429s_beyond_the_retries_raise(session, tvmaze) -> None:
    tvmaze.fail_next_429(retry_after=0, times=3)
    with pytest.raises(SourceError) as caught:
        await TVmaze(session, tvmaze.url).observe(SHOW, None, TODAY)
    assert str(caught.value) == "TVmaze: show 100 still rate limited (429) after 2 retries"
    assert tvmaze.throttled == 3 == len(tvmaze.requests)


def test_retry_after_is_seconds_or_an_http_date_capped_at_a_minute() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(None, now) == 5.0
    assert retry_after_seconds("soon", now) == 5.0
    assert retry_after_seconds("3600", now) == 60.0
    assert retry_after_seconds("Fri, 01 May 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Fri, 01 May 2026 11:59:00 GMT", now) == 0.0
    assert retry_after_seconds("Fri, 01 May 2026 13:00:00 GMT", now) == 60.0


async def test_the_fake_refuses_a_request_beyond_its_limit(session) -> None:
    async with FakeTVmaze(limit=20, period=1.0) as fake:
        add_citadel(fake)

        async def status() -> tuple[int, str | None]:
            async with session.get(f"{fake.url}/shows/{SHOW}") as response:
                return response.status, response.headers.get("Retry-After")

        answers = await asyncio.gather(*(status() for _ in range(21)))
    assert sorted(answers, key=lambda a: a[0]) == [(200, None)] * 20 + [(429, "1")]
    assert fake.violations == 1 == fake.throttled


async def test_the_limiter_keeps_50_shows_within_tvmazes_limit(session) -> None:
    async with FakeTVmaze(limit=20, period=1.0) as fake:
        for show_id in range(1, 51):
            add_citadel(fake, show_id)
        client = TVmaze(session, fake.url, limiter=RateLimiter(20, 1.0))
        results = await asyncio.gather(*(client.observe(show_id, None, TODAY) for show_id in range(1, 51)))
    assert [len(observed) for observed in results] == [8] * 50
    assert fake.violations == 0 and fake.throttled == 0
    times = sorted(at for at, _ in fake.requests)
    assert len(times) == 50
    assert all(times[i + 20] - times[i] >= 1.0 for i in range(30))  # never 21 in a second
    assert times[-1] - times[0] >= 2.0  # spread over at least two periods


async def test_the_limiter_starts_no_more_than_calls_in_a_period() -> None:
    limiter = RateLimiter(3, 0.2)
    loop = asyncio.get_running_loop()
    starts = []
    for _ in range(7):
        await limiter.acquire()
        starts.append(loop.time())
    assert starts[2] - starts[0] < 0.1  # the first three at once
    assert all(starts[i + 3] - starts[i] >= 0.2 for i in range(4))
    assert starts[6] - starts[0] < 0.6  # and each waits only until a slot frees (0.4 s in all)


async def test_a_slot_held_by_a_running_request_counts_from_its_end() -> None:
    limiter = RateLimiter(2, 0.2)
    loop = asyncio.get_running_loop()
    async with limiter, limiter:
        waiter = asyncio.create_task(limiter.acquire())
        await one_turn()
        assert not waiter.done()  # both slots are held by requests still running
        ending = loop.time()
    await waiter
    assert loop.time() - ending >= 0.2


# --- Wikidata -----------------------------------------------------------------------------------


async def test_a_wikidata_item_gives_its_premiere_and_episodes(session, wikidata) -> None:
    observed = await Wikidata(session, wikidata.url).observe(ITEM, TODAY)
    assert observed == [
        seen("premiere", "2023-04-28", ITEM_PAGE, "Wikidata"),
        seen("episodes", "6", ITEM_PAGE, "Wikidata"),
    ]
    assert paths(wikidata) == ["/wiki/Special:EntityData/Q100.json"]
    assert wikidata.user_agents == [USER_AGENT]


@pytest.mark.parametrize(
    ("start", "precision", "premiere"),
    [("2023-04-28", 11, "2023-04-28"), ("2026-05", 10, "2026-05"), ("2026", 9, "2026"), ("2020", 8, None)],
)
async def test_wikidata_dates_keep_their_precision(session, wikidata, start, precision, premiere) -> None:
    wikidata.set_entity(ITEM, start=start, precision=precision, episodes=None)
    observed = await Wikidata(session, wikidata.url).observe(ITEM, TODAY)
    assert observed == ([seen("premiere", premiere, ITEM_PAGE, "Wikidata")] if premiere else [])


async def test_wikidata_prefers_preferred_statements_and_skips_deprecated(session, wikidata) -> None:
    claims = wikidata.entities[ITEM]["claims"]
    claims["P580"] = [
        time_statement(ITEM, "2022-01-01", rank="deprecated"),
        no_value_statement(ITEM, "P580"),  # an unknown value, preferred: no value to read
        time_statement(ITEM, "2023-04-28"),
        time_statement(ITEM, "2023-04", precision=10, rank="preferred"),
    ]
    claims["P1113"] = [quantity_statement(ITEM, 12, rank="deprecated"), quantity_statement(ITEM, 6)]
    client = Wikidata(session, wikidata.url)
    assert [o.value for o in await client.observe(ITEM, TODAY)] == ["2023-04", "6"]
    del claims["P580"][3]
    assert [o.value for o in await client.observe(ITEM, TODAY)] == ["2023-04-28", "6"]
    claims["P580"] = [time_statement(ITEM, "2022-01-01", rank="deprecated")]
    claims["P1113"] = [quantity_statement(ITEM, 12, rank="deprecated")]
    assert await client.observe(ITEM, TODAY) == []
    claims["P580"] = [time_statement(ITEM, "2023-04-28", calendar=JULIAN)]
    assert await client.observe(ITEM, TODAY) == []


async def test_a_redirected_item_answers_as_its_target(session, wikidata) -> None:
    wikidata.set_entity("Q200", start="2024-10-10", episodes=6)
    wikidata.redirect("Q150", "Q200")
    observed = await Wikidata(session, wikidata.url).observe("Q150", TODAY)
    assert observed == [
        seen("premiere", "2024-10-10", "https://www.wikidata.org/wiki/Q200", "Wikidata"),
        seen("episodes", "6", "https://www.wikidata.org/wiki/Q200", "Wikidata"),
    ]


@pytest.mark.parametrize("qid", ["q100", "Q0", "Q012", "Q100\n", "100", "Q1/../Q2", ""])
async def test_a_malformed_item_id_raises_before_any_request(session, wikidata, qid) -> None:
    with pytest.raises(SourceError) as caught:
        await Wikidata(session, wikidata.url).observe(qid, TODAY)
    assert str(caught.value) == f"Wikidata: {qid!r} is not an item id such as Q42"
    assert wikidata.requests == []


@pytest.mark.parametrize(
    ("mode", "qid", "message"),
    [
        ("ok", "Q999", "Wikidata: item Q999 not found (404)"),
        ("down", ITEM, "Wikidata: item Q100 answered HTTP 500"),
        ("slow", ITEM, "Wikidata: item Q100 timed out after 0.3 s"),
        ("malformed", ITEM, "Wikidata: item Q100 answered malformed JSON"),
    ],
)
async def test_wikidata_failures_are_one_line_source_errors(session, wikidata, mode, qid, message) -> None:
    wikidata.mode = mode
    with pytest.raises(SourceError) as caught:
        await Wikidata(session, wikidata.url, timeout=0.3).observe(qid, TODAY)
    assert str(caught.value) == message
