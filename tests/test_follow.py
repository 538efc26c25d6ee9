"""Following a title through the fake Discord: the followers' role the bot makes, gives and takes, the
Follow button (after a restart too), the posts that ping that role and nothing else, and each refusal
(no Manage Roles, a role above the bot's, follow roles off, a DM), with nothing half-done.

What is asserted is what members and admins see (the one line, the roles they hold, the server's roles)
and what the store holds, exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
import pytest

from bot.client import CitadelBot
from bot.clock import ManualClock
from bot.config import Settings
from bot.facts import Fact
from tests.fake_discord import FakeDiscord, InteractionRecord
from tests.fake_discord.payloads import (
    DEFAULT_TESTER_ID,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    MANAGE_ROLES,
    MENTION_EVERYONE,
)
from tests.harness import EDITOR_ROLE_ID, HOME, MANAGE_GUILD, assert_ephemeral_line, running_bot
from tests.test_announce import (
    START,
    advance,
    milestone,
    posted_bodies,
    posts,
    set_premiere,
    subscribe_a_day_early,
)

TESTER = DEFAULT_TESTER_ID
DIANA_ROLE = "Citadel: Diana — followers"
FOLLOW_DIANA = "citadel:follow:diana"
BASE_ROLES = {"@everyone": 0, "citadel-bot": 1, "editor": 1}  # HOME's roles before any follow


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def managing(fake: FakeDiscord) -> None:
    """The bot's role has Manage Roles (and Mention @everyone, @here and All Roles, so its pings of the
    followers' roles notify), as an admin who wants follow roles gives it."""
    fake.bot_permissions |= MANAGE_ROLES | MENTION_EVERYONE


async def citadel(
    fake: FakeDiscord, subcommand: str, user: int | dict[str, Any] = TESTER, **options: Any
) -> InteractionRecord:
    return await fake.invoke_command("citadel", subcommand=subcommand, options=options, user=user)


async def said(fake: FakeDiscord, record: InteractionRecord) -> str:
    """The one line the member read (a deferred answer's follow-up), only they saw it and it pinged nobody."""
    answer = await record.wait_answer()
    assert answer["flags"] & FLAG_EPHEMERAL and not answer["flags"] & FLAG_LOADING
    bodies = [r.json for r in fake.requests if record.token in r.path and r.method == "POST" and r.json]
    sent = [body.get("data", body) for body in bodies]
    assert all(b["allowed_mentions"] == {"parse": []} for b in sent if b.get("content")), sent
    line = answer["content"]
    assert "\n" not in line and "Traceback" not in line
    return str(line)


async def follow_roles(fake: FakeDiscord, state: str) -> dict[str, Any]:
    """An admin's /announce follow-roles; the answer's data."""
    record = await fake.invoke_command(
        "announce", subcommand="follow-roles", options={"state": state}, permissions=MANAGE_GUILD
    )
    return dict((await record.wait_response())["data"])


def roles_now(fake: FakeDiscord) -> dict[str, int]:
    """HOME's roles now: name -> position."""
    return {role["name"]: role["position"] for role in fake.roles(HOME.id)}


def follower_role(fake: FakeDiscord, name: str = DIANA_ROLE) -> dict[str, Any]:
    (role,) = [r for r in fake.roles(HOME.id) if r["name"] == name]
    return role


def role_creations(fake: FakeDiscord) -> int:
    return len([r for r in fake.requests if r.method == "POST" and r.path == f"/guilds/{HOME.id}/roles"])


async def test_follow_and_unfollow_give_and_take_one_role_per_title(
    managing: None, bot: CitadelBot, fake: FakeDiscord
) -> None:
    line = await said(fake, await citadel(fake, "follow", entry="diana"))
    role = follower_role(fake)
    role_id = int(role["id"])
    assert line.startswith(f"You now follow Citadel: Diana: you have the <@&{role_id}> role.")
    assert "doesn't post countdowns yet" in line  # true: HOME has no announcement channel
    # A role nobody but the bot may mention, with no permissions, just above @everyone.
    assert (role["mentionable"], role["permissions"], role["managed"]) == (False, "0", False)
    assert roles_now(fake) == {"@everyone": 0, DIANA_ROLE: 1, "citadel-bot": 2, "editor": 2}
    assert fake.member_role_ids(HOME.id, TESTER) == [role_id]
    assert await bot.store.follower_roles.in_guild(HOME.id) == {"diana": role_id}

    # Following again changes nothing; a second member gets the same role.
    line = await said(fake, await citadel(fake, "follow", entry="Italy"))
    assert (
        line
        == f"You already follow Citadel: Diana here (you have <@&{role_id}>); /citadel unfollow stops it."
    )
    other = fake.make_user(username="other fan")
    await said(fake, await citadel(fake, "follow", user=other, entry="diana"))
    assert fake.member_role_ids(HOME.id, int(other["id"])) == [role_id]
    assert role_creations(fake) == 1

    # /citadel following lists it, with its Unfollow button.
    listed = await (await citadel(fake, "following")).wait_response()
    assert listed["data"]["content"] == (
        f"You follow, in this server:\n- Citadel: Diana (<@&{role_id}>)\n\n"
        "You have no reminders. `/citadel remind entry:` asks for a DM before a premiere."
    )
    (row,) = listed["data"]["components"]
    assert [(b["label"], b["custom_id"]) for b in row["components"]] == [
        ("Unfollow Citadel: Diana", "citadel:unfollow:diana")
    ]

    line = await said(fake, await citadel(fake, "unfollow", entry="diana"))
    assert line == f"You no longer follow Citadel: Diana: I took the <@&{role_id}> role away."
    assert fake.member_role_ids(HOME.id, TESTER) == []
    assert fake.member_role_ids(HOME.id, int(other["id"])) == [role_id]  # the other fan still follows
    # The role stays for the server's other followers, and so does the store's row.
    assert roles_now(fake) == {"@everyone": 0, DIANA_ROLE: 1, "citadel-bot": 2, "editor": 2}
    assert await bot.store.follower_roles.in_guild(HOME.id) == {"diana": role_id}
    line = await said(fake, await citadel(fake, "unfollow", entry="diana"))
    assert line == "You don't follow Citadel: Diana in this server, so there is nothing to stop."
    listed = await (await citadel(fake, "following")).wait_response()
    assert listed["data"]["content"].startswith("You don't follow any title in this server.")


async def test_the_follow_button_toggles_and_works_after_a_restart(
    managing: None, settings: Settings, fake: FakeDiscord, clock: ManualClock
) -> None:
    async with running_bot(settings, fake, clock):
        record = await citadel(fake, "diana")
        (row,) = (await record.wait_response())["data"]["components"]
        assert [(b["label"], b["custom_id"]) for b in row["components"]] == [("Follow", FOLLOW_DIANA)]
        message = record.original
        assert message is not None
    async with running_bot(settings, fake, clock) as bot:  # a new process: nothing of the old one left
        line = await said(fake, await fake.click_button(message, FOLLOW_DIANA))
        role_id = int(follower_role(fake)["id"])
        assert line.startswith(f"You now follow Citadel: Diana: you have the <@&{role_id}> role.")
        assert fake.member_role_ids(HOME.id, TESTER) == [role_id]
        line = await said(fake, await fake.click_button(message, FOLLOW_DIANA))
        assert line == f"You no longer follow Citadel: Diana: I took the <@&{role_id}> role away."
        assert fake.member_role_ids(HOME.id, TESTER) == []
        assert await bot.store.follower_roles.in_guild(HOME.id) == {"diana": role_id}


async def test_posts_ping_the_followers_role_only_else_the_opt_in_role(
    managing: None, bot: CitadelBot, fake: FakeDiscord, clock: ManualClock
) -> None:
    await subscribe_a_day_early(bot, fake)
    await bot.announcements.change(HOME.id, role_id=EDITOR_ROLE_ID)  # the server's opt-in role
    await said(fake, await citadel(fake, "follow", entry="season-2"))
    followers = int(follower_role(fake, "Citadel season 2 — followers")["id"])

    await set_premiere(bot, "2026-12-24")
    await advance(bot, clock, START + timedelta(seconds=150))
    assert sorted(await posts(bot, fake, 2)) == [
        "Citadel season 2 premieres in 30 days",
        "Premiere date confirmed: Citadel season 2",
    ]
    for body in posted_bodies(fake):
        assert body["content"] == f"<@&{followers}>"
        assert body["allowed_mentions"] == {"parse": [], "roles": [followers]}
        assert body["components"] == [
            {"type": 1, "components": [{"type": 2, "style": 1, "disabled": False, "label": "Follow", "custom_id": "citadel:follow:season-2"}]}
        ]  # fmt: skip
    posted = fake.messages[HOME.channel_id]
    assert [m["mention_roles"] for m in posted] == [[str(followers)]] * 2  # Discord notified them, only them

    # A post about a title without followers here pings the opt-in role.
    episodes = Fact("episodes", "7", "https://example.org/diana", "2026-11-20")
    await bot.store.facts.edit("diana", "episodes", "", episodes, "mod (1)")
    await advance(bot, clock, START + timedelta(seconds=300))
    assert (await posts(bot, fake, 3))[2] == "Citadel: Diana: what changed"
    body = posted_bodies(fake)[2]
    assert (body["content"], body["allowed_mentions"]) == (
        f"<@&{EDITOR_ROLE_ID}>",
        {"parse": [], "roles": [EDITOR_ROLE_ID]},
    )

    # The Follow button of a post works like the answer's: another fan follows season 2 from it.
    other = fake.make_user(username="other fan")
    await said(fake, await fake.click_button(posted[0], "citadel:follow:season-2", user=other))
    assert fake.member_role_ids(HOME.id, int(other["id"])) == [followers]

    # Follow roles off: the next post about season 2 falls back to the opt-in role.
    assert (await follow_roles(fake, "off"))["content"].startswith("Follow roles are off")
    await advance(bot, clock, milestone(14))
    assert (await posts(bot, fake, 4))[3] == "Citadel season 2 premieres in 14 days"
    assert posted_bodies(fake)[3]["content"] == f"<@&{EDITOR_ROLE_ID}>"
    assert fake.member_role_ids(HOME.id, TESTER) == [followers]  # roles already given stay


async def test_without_manage_roles_following_is_refused_in_one_line_and_nothing_is_made(
    bot: CitadelBot, fake: FakeDiscord
) -> None:
    line = await said(fake, await citadel(fake, "follow", entry="diana"))
    assert line == (
        "I can't give or take roles here: I need the Manage Roles permission. Ask an admin to give my "
        "role Manage Roles (Server Settings → Roles). Nothing was changed."
    )
    record = await citadel(fake, "diana")
    await record.wait_response()
    assert record.original is not None
    line = await said(fake, await fake.click_button(record.original, FOLLOW_DIANA))
    assert line.startswith("I can't give or take roles here: I need the Manage Roles permission.")
    assert line.endswith("Nothing was changed.")
    # An admin turning follow roles on is told what is missing too.
    assert (await follow_roles(fake, "on"))["content"].endswith(
        "I need the Manage Roles permission to give those roles; until then following is refused."
    )
    assert roles_now(fake) == BASE_ROLES
    assert role_creations(fake) == 0
    assert fake.member_role_ids(HOME.id, TESTER) == []
    assert await bot.store.follower_roles.in_guild(HOME.id) == {}


async def test_a_followers_role_above_the_bots_is_refused_in_one_line(
    managing: None, bot: CitadelBot, fake: FakeDiscord
) -> None:
    await said(fake, await citadel(fake, "follow", entry="diana"))
    role_id = int(follower_role(fake)["id"])
    await fake.move_role(HOME.id, role_id, 5)  # an admin drags it above the bot's role
    other = fake.make_user(username="other fan")
    refused = (
        f"I can't give or take the “{DIANA_ROLE}” role: it isn't below my highest role “citadel-bot”. "
        f"Ask an admin to move “citadel-bot” above “{DIANA_ROLE}” (Server Settings → Roles). Nothing was changed."
    )
    assert await said(fake, await citadel(fake, "follow", user=other, entry="diana")) == refused
    assert await said(fake, await citadel(fake, "unfollow", entry="diana")) == refused
    assert fake.member_role_ids(HOME.id, int(other["id"])) == []
    assert fake.member_role_ids(HOME.id, TESTER) == [role_id]
    assert role_creations(fake) == 1
    assert await bot.store.follower_roles.in_guild(HOME.id) == {"diana": role_id}


async def test_with_follow_roles_off_following_is_refused_and_existing_roles_stay(
    managing: None, bot: CitadelBot, fake: FakeDiscord
) -> None:
    await said(fake, await citadel(fake, "follow", entry="diana"))
    role_id = int(follower_role(fake)["id"])
    answer = await follow_roles(fake, "off")
    assert answer["content"] == (
        "Follow roles are off: members can't start following titles here, and posts ping the opt-in role "
        "(if any). The followers' roles already made are left as they are."
    )
    assert "**Ping:** nobody (follow roles are off)" in answer["embeds"][0]["description"]
    other = fake.make_user(username="other fan")
    line = await said(fake, await citadel(fake, "follow", user=other, entry="honey-bunny"))
    assert line == (
        "This server has follow roles turned off; an admin can turn them on with /announce follow-roles on. "
        "Nothing was changed."
    )
    assert roles_now(fake) == {"@everyone": 0, DIANA_ROLE: 1, "citadel-bot": 2, "editor": 2}
    # A member can still leave the role they hold.
    line = await said(fake, await citadel(fake, "unfollow", entry="diana"))
    assert line == f"You no longer follow Citadel: Diana: I took the <@&{role_id}> role away."
    assert fake.member_role_ids(HOME.id, TESTER) == []
    assert await bot.store.follower_roles.in_guild(HOME.id) == {"diana": role_id}


async def test_a_deleted_followers_role_is_made_again_on_the_next_follow(
    managing: None, bot: CitadelBot, fake: FakeDiscord
) -> None:
    await said(fake, await citadel(fake, "follow", entry="diana"))
    first = int(follower_role(fake)["id"])
    await fake.delete_role(HOME.id, first)  # an admin deletes it: every member loses it
    assert fake.member_role_ids(HOME.id, TESTER) == []
    line = await said(fake, await citadel(fake, "follow", entry="diana"))
    second = int(follower_role(fake)["id"])
    assert second != first and line.startswith(
        f"You now follow Citadel: Diana: you have the <@&{second}> role."
    )
    assert roles_now(fake) == {"@everyone": 0, DIANA_ROLE: 1, "citadel-bot": 2, "editor": 2}
    assert fake.member_role_ids(HOME.id, TESTER) == [second]
    assert await bot.store.follower_roles.in_guild(HOME.id) == {"diana": second}


async def test_following_in_a_dm_is_refused_in_one_line(
    managing: None, bot: CitadelBot, fake: FakeDiscord
) -> None:
    for subcommand, options in (("follow", {"entry": "diana"}), ("unfollow", {"entry": "diana"})):
        record = await fake.invoke_command("citadel", subcommand=subcommand, options=options, guild_id=None)
        assert_ephemeral_line(
            await record.wait_response(),
            "Following works in a server, where the followers' role is: use it there.",
        )
    # /citadel following in a DM has no server's roles to list: only the member's DM reminders.
    listed = await (
        await fake.invoke_command("citadel", subcommand="following", guild_id=None)
    ).wait_response()
    assert listed["data"]["content"] == (
        "You have no reminders. `/citadel remind entry:` asks for a DM before a premiere."
    )
    answer = await (await fake.invoke_command("citadel", subcommand="diana", guild_id=None)).wait_response()
    assert "components" not in answer["data"] or answer["data"]["components"] == []  # no Follow in a DM
    assert role_creations(fake) == 0 and not fake.member_roles


async def test_the_fake_answers_role_changes_as_discord_does(bot: CitadelBot, fake: FakeDiscord) -> None:
    """Without Manage Roles: 403 50013 for making a role; an unknown role: 404 10011."""
    with pytest.raises(discord.Forbidden) as refused:
        await bot.http.create_role(HOME.id, name="x", permissions="0")
    assert (refused.value.code, refused.value.text) == (50013, "Missing Permissions")
    with pytest.raises(discord.NotFound) as unknown:
        await bot.http.add_role(HOME.id, TESTER, 123456789012345678)
    assert (unknown.value.code, unknown.value.text) == (10011, "Unknown Role")
    assert fake.member_role_ids(HOME.id, TESTER) == [] and roles_now(fake) == BASE_ROLES


async def test_discord_refusing_the_role_after_all_leaves_nothing_made(
    managing: None, bot: CitadelBot, fake: FakeDiscord
) -> None:
    """A 403 the checks could not foresee (permissions changed in between): one line, and the role made
    for the member is deleted again."""
    refusal = {"message": "Missing Permissions", "code": 50013}
    fake.inject_failure(f"/guilds/{HOME.id}/members/*/roles/*", 403, refusal, method="PUT")
    line = await said(fake, await citadel(fake, "follow", entry="diana"))
    assert line == (
        f"Discord refused to let me manage the “{DIANA_ROLE}” role (Missing Permissions): my role needs "
        f"Manage Roles and must sit above “{DIANA_ROLE}” (Server Settings → Roles). Nothing was changed."
    )
    assert role_creations(fake) == 1
    assert roles_now(fake) == BASE_ROLES
    assert fake.member_role_ids(HOME.id, TESTER) == []
    assert await bot.store.follower_roles.in_guild(HOME.id) == {}
