"""A fake Discord (gateway + REST over loopback) that a real discord.py client can connect to."""

from .interactions import FIRST_GUILD, CommandNotSynced, InteractionRecord, TypedOption
from .openapi import Problem
from .payloads import GuildSpec, guild_id_for_index, shard_for_guild
from .permissions import overwrite
from .ratelimits import RateLimits, RouteLimit
from .rest import FailureRule, InvalidRequest, RequestRecord, SyncEvent
from .server import FakeDiscord, Restore, running_fake

__all__ = [
    "FIRST_GUILD",
    "CommandNotSynced",
    "FailureRule",
    "FakeDiscord",
    "GuildSpec",
    "InteractionRecord",
    "InvalidRequest",
    "Problem",
    "RateLimits",
    "RequestRecord",
    "Restore",
    "RouteLimit",
    "SyncEvent",
    "TypedOption",
    "guild_id_for_index",
    "overwrite",
    "running_fake",
    "shard_for_guild",
]
