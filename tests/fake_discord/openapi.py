"""Checks REST request bodies against Discord's OpenAPI spec, plus the limits the spec leaves out."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

log = logging.getLogger(__name__)

SPEC_ENV = "DISCORD_OPENAPI_SPEC"
# ../shared beside the checkout: the spec is shared with the project, never copied into it.
SIBLING_SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "discord-api" / "openapi.json"
# Said once per test run (and as the reason of every test that needs the spec) when there is none.
SPEC_OFF = (
    "Discord's OpenAPI spec was not found, so the spec checks were skipped: set "
    f"{SPEC_ENV}=/path/to/openapi.json (or put it at ../shared/discord-api/openapi.json) to turn them on"
)


def find_spec(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where Discord's OpenAPI spec is: $DISCORD_OPENAPI_SPEC when set (a path that is not a file is the
    caller's to refuse), else ../shared/discord-api/openapi.json beside the checkout if it is there, else None."""
    configured = environ.get(SPEC_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return SIBLING_SPEC if SIBLING_SPEC.is_file() else None


SPEC_PATH: Path | None = find_spec()
_SPEC_URI = "urn:discord-openapi"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason Discord would refuse a body, located like Discord's ``errors`` tree."""

    path: tuple[str | int, ...]
    code: str
    message: str
    detail: str = ""  # jsonschema's own wording, for people reading a failed test


@dataclass(frozen=True, slots=True)
class Operation:
    template: str
    method: str
    regex: re.Pattern[str]
    literal_segments: int
    has_json_body: bool


def _compile_template(template: str) -> tuple[re.Pattern[str], int]:
    parts = []
    literals = 0
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(segment))
            literals += 1
    return re.compile("^/" + "/".join(parts) + "/?$"), literals


def _patch_spec_quirks(document: dict[str, Any]) -> None:
    """Loosen the spec exactly where it refuses payloads that Discord accepts from discord.py.

    Each change is the narrowest one that lets a real discord.py 2.7.1 payload through; the tests of
    the fake send those payloads and assert that nothing is refused.
    """
    schemas = document["components"]["schemas"]

    # discord.py sends some ids as JSON integers (AllowedMentions.users/roles, the DM recipient_id of
    # POST /users/@me/channels); Discord accepts both forms, the spec only describes the string form.
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}

    # discord.py sends a role's permissions as a string of digits, as Discord itself writes them in
    # every role object; Discord accepts that form, the spec only describes the integer one.
    for name in ("CreateRoleRequest", "UpdateRoleRequestPartial"):
        permissions = schemas[name]["properties"]["permissions"]
        schemas[name]["properties"]["permissions"] = {
            "anyOf": [permissions, {"type": "string", "pattern": "^[0-9]+$"}]
        }


class OpenAPISpec:
    """Discord's spec, indexed by method and path template, with validators compiled on first use."""

    def __init__(self, document: dict[str, Any]) -> None:
        _patch_spec_quirks(document)
        self.document = document
        self._registry: Registry[Any] = Registry().with_resource(
            _SPEC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        self._operations: dict[tuple[str, str], list[Operation]] = {}
        for template, item in document["paths"].items():
            regex, literals = _compile_template(template)
            first = template.strip("/").split("/")[0]
            for method, op in item.items():
                if method == "parameters" or not isinstance(op, dict):
                    continue
                content = (op.get("requestBody") or {}).get("content") or {}
                entry = Operation(template, method.upper(), regex, literals, "application/json" in content)
                self._operations.setdefault((entry.method, first), []).append(entry)
        for ops in self._operations.values():
            # "/messages/@original" must win over "/messages/{message_id}".
            ops.sort(key=lambda o: -o.literal_segments)
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}

    def find(self, method: str, path: str) -> Operation | None:
        first = path.strip("/").split("/")[0]
        for op in self._operations.get((method.upper(), first), ()):
            if op.regex.match(path):
                return op
        return None

    def validator(self, op: Operation) -> Draft202012Validator | None:
        if not op.has_json_body:
            return None
        key = (op.method, op.template)
        cached = self._validators.get(key)
        if cached is None:
            pointer = "/".join(
                s.replace("~", "~0").replace("/", "~1")
                for s in (
                    "paths",
                    op.template,
                    op.method.lower(),
                    "requestBody",
                    "content",
                    "application/json",
                )
            )
            ref = f"{_SPEC_URI}#/{quote(pointer, safe='/~')}/schema"
            cached = Draft202012Validator({"$ref": ref}, registry=self._registry)
            self._validators[key] = cached
        return cached

    def check(self, op: Operation, body: Any) -> list[Problem]:
        validator = self.validator(op)
        if validator is None:
            return []
        return [_problem_from_error(leaf) for error in validator.iter_errors(body) for leaf in _leaves(error)]


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors of the union branch the sender meant, instead of "not valid under any schema".

    Discord's unions are discriminated by a ``type`` field (callback type, component type, option
    type) or by null-vs-object. A branch whose errors include a wrong discriminator at this level is
    not the one meant; of the rest, the one that got deepest is. jsonschema's best_match gives up when
    two branches fail equally deep, which is the common case here.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    depth = len(error.path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def wrong_discriminator(sub: ValidationError) -> bool:
        if sub.validator == "type" and len(sub.path) == depth:
            return True
        return sub.validator in ("enum", "const") and len(sub.path) == depth + 1 and sub.path[-1] == "type"

    def score(errors: list[ValidationError]) -> tuple[bool, int, int]:
        return (any(map(wrong_discriminator, errors)), -max(len(e.path) for e in errors), len(errors))

    chosen = min(branches.values(), key=score)
    if score(chosen)[0]:
        leaf = best_match([error])
        return [leaf if leaf is not None else error]
    return [leaf for sub in chosen for leaf in _leaves(sub)]


def _problem_from_error(error: ValidationError) -> Problem:
    path = tuple(error.absolute_path)
    kind = error.validator
    value = error.validator_value
    detail = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    if kind in ("maxLength", "maxItems", "maxProperties"):
        return Problem(path, "BASE_TYPE_MAX_LENGTH", f"Must be {value} or fewer in length.", detail)
    if kind in ("minLength", "minItems", "minProperties"):
        return Problem(path, "BASE_TYPE_MIN_LENGTH", f"Must be {value} or more in length.", detail)
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return Problem(
            (*path, missing) if missing else path, "BASE_TYPE_REQUIRED", "This field is required", detail
        )
    if kind in ("enum", "const"):
        return Problem(path, "BASE_TYPE_CHOICES", f"Value must be one of {value}.", detail)
    if kind == "maximum":
        return Problem(path, "NUMBER_TYPE_MAX", f"Value must be less than or equal to {value}.", detail)
    if kind == "minimum":
        return Problem(path, "NUMBER_TYPE_MIN", f"Value must be greater than or equal to {value}.", detail)
    if kind == "pattern":
        return Problem(path, "STRING_TYPE_REGEX", "String value did not match validation regex.", detail)
    if kind == "type":
        return Problem(path, "BASE_TYPE_BAD_TYPE", f"Value must be of type {value}.", detail)
    return Problem(path, "BASE_TYPE_INVALID", "Invalid Form Body", detail)


_spec_cache: dict[Path | None, OpenAPISpec | None] = {}


def load_spec(path: Path | None = SPEC_PATH) -> OpenAPISpec | None:
    """The parsed spec, loaded once per process; None (with one warning) when there is none to load.
    A path that was given but is not a file is an error, not a reason to check less."""
    if path is None:
        if None not in _spec_cache:
            log.warning("%s", SPEC_OFF)
            _spec_cache[None] = None
        return None
    if path not in _spec_cache:
        if not path.is_file():
            raise FileNotFoundError(f"Discord's OpenAPI spec: {path} is not a file ({SPEC_OFF})")
        _spec_cache[path] = OpenAPISpec(json.loads(path.read_text(encoding="utf-8")))
    return _spec_cache[path]


# --- Limits Discord enforces that the spec does not (or not for bots) -------------------------------

CONTENT_MAX = 2000  # the spec says 4000 for channel messages: that is the Nitro limit, bots get 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_STRING_VALUE_MAX = 100
OPTIONS_MAX = 25
DESCRIPTION_MAX = 100
NAME_MAX = 32

_MESSAGE_BODIES = {
    ("POST", "/channels/{channel_id}/messages"),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
}
_COMMAND_LISTS = {
    ("PUT", "/applications/{application_id}/commands"),
    ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"),
}
_COMMAND_SINGLE = {
    ("POST", "/applications/{application_id}/commands"),
    ("POST", "/applications/{application_id}/guilds/{guild_id}/commands"),
    ("PATCH", "/applications/{application_id}/commands/{command_id}"),
    ("PATCH", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}"),
}
_CALLBACK = ("POST", "/interactions/{interaction_id}/{interaction_token}/callback")
_EVENT_CREATE = ("POST", "/guilds/{guild_id}/scheduled-events")
EXTERNAL_EVENT = 3


# Discord's locales (the keys a *_localizations object may have).
LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)
_DEVANAGARI = range(0x0900, 0x0980)
_THAI = range(0x0E00, 0x0E80)


def is_valid_command_name(name: str) -> bool:
    """Discord's ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, lower case (where a letter has a
    lower case) for chat-input commands and options, their localized names included.

    Python's ``re`` has no ``\\p{L}``; Unicode categories L* and N* are exactly what it means, and the
    Devanagari and Thai blocks stand for those scripts (their vowel signs are marks, not letters).
    """
    if not 1 <= len(name) <= NAME_MAX or name != name.lower():
        return False
    return all(
        ch in "-_'" or unicodedata.category(ch)[0] in "LN" or ord(ch) in _DEVANAGARI or ord(ch) in _THAI
        for ch in name
    )


def _check_localizations(
    item: Mapping[str, Any], key: str, at: tuple[str | int, ...], valid: Callable[[str], bool], why: str
) -> list[Problem]:
    """`name_localizations` or `description_localizations`: Discord's locales only, each value valid."""
    localized = item.get(key)
    if not isinstance(localized, Mapping):
        return []
    problems = []
    for locale, value in localized.items():
        if locale not in LOCALES:
            problems.append(
                Problem(
                    (*at, key, locale), "ENUM_TYPE_COERCE", f'Value "{locale}" is not a valid enum value.'
                )
            )
        elif not isinstance(value, str) or not valid(value):
            code = (
                "APPLICATION_COMMAND_INVALID_NAME" if key == "name_localizations" else "BASE_TYPE_BAD_LENGTH"
            )
            problems.append(Problem((*at, key, locale), code, why))
    return problems


def _localized_names(items: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each locale's names of sibling options (the base name where one has no localization)."""
    names: dict[str, list[str]] = {}
    for locale in LOCALES:
        names[locale] = [
            str((item.get("name_localizations") or {}).get(locale) or item.get("name")) for item in items
        ]
    return names


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else 0


def _check_message(body: Mapping[str, Any], at: tuple[str | int, ...]) -> list[Problem]:
    problems: list[Problem] = []
    if _text_len(body.get("content")) > CONTENT_MAX:
        problems.append(
            Problem((*at, "content"), "BASE_TYPE_MAX_LENGTH", f"Must be {CONTENT_MAX} or fewer in length.")
        )
    embeds = body.get("embeds")
    if not isinstance(embeds, list):
        return problems
    if len(embeds) > EMBEDS_MAX:
        problems.append(
            Problem((*at, "embeds"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
        )
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, Mapping):
            continue
        here = (*at, "embeds", i)

        def limit(value: Any, maximum: int, *path: str | int, _here: tuple[str | int, ...] = here) -> int:
            n = _text_len(value)
            if n > maximum:
                problems.append(
                    Problem((*_here, *path), "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
                )
            return n

        total += limit(embed.get("title"), EMBED_TITLE_MAX, "title")
        total += limit(embed.get("description"), EMBED_DESCRIPTION_MAX, "description")
        footer = embed.get("footer")
        if isinstance(footer, Mapping):
            total += limit(footer.get("text"), EMBED_FOOTER_MAX, "footer", "text")
        author = embed.get("author")
        if isinstance(author, Mapping):
            total += limit(author.get("name"), EMBED_AUTHOR_MAX, "author", "name")
        fields = embed.get("fields")
        if isinstance(fields, list):
            if len(fields) > EMBED_FIELDS_MAX:
                problems.append(
                    Problem(
                        (*here, "fields"),
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {EMBED_FIELDS_MAX} or fewer in length.",
                    )
                )
            for j, fld in enumerate(fields):
                if isinstance(fld, Mapping):
                    total += limit(fld.get("name"), EMBED_FIELD_NAME_MAX, "fields", j, "name")
                    total += limit(fld.get("value"), EMBED_FIELD_VALUE_MAX, "fields", j, "value")
    if total > EMBED_TOTAL_MAX:
        problems.append(
            Problem(
                (*at, "embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
            )
        )
    return problems


def _check_choices(choices: Any, at: tuple[str | int, ...]) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(choices, list):
        return problems
    if len(choices) > CHOICES_MAX:
        problems.append(Problem(at, "BASE_TYPE_MAX_LENGTH", f"Must be {CHOICES_MAX} or fewer in length."))
    for i, choice in enumerate(choices):
        if not isinstance(choice, Mapping):
            continue
        if not 1 <= _text_len(choice.get("name")) <= CHOICE_NAME_MAX:
            problems.append(
                Problem(
                    (*at, i, "name"),
                    "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {CHOICE_NAME_MAX} in length.",
                )
            )
        problems += _check_localizations(
            choice,
            "name_localizations",
            (*at, i),
            lambda name: 1 <= len(name) <= CHOICE_NAME_MAX,
            f"Must be between 1 and {CHOICE_NAME_MAX} in length.",
        )
        if _text_len(choice.get("value")) > CHOICE_STRING_VALUE_MAX:
            problems.append(
                Problem(
                    (*at, i, "value"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {CHOICE_STRING_VALUE_MAX} or fewer in length.",
                )
            )
    return problems


def _check_name_and_description(
    item: Mapping[str, Any], at: tuple[str | int, ...], what: str
) -> list[Problem]:
    problems: list[Problem] = []
    name = item.get("name")
    if isinstance(name, str) and not is_valid_command_name(name):
        problems.append(
            Problem((*at, "name"), "APPLICATION_COMMAND_INVALID_NAME", f"{what} name is invalid: {name!r}")
        )
    description = item.get("description")
    if not isinstance(description, str) or not _description_fits(description):
        problems.append(
            Problem(
                (*at, "description"),
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {DESCRIPTION_MAX} in length.",
            )
        )
    problems += _check_localizations(
        item, "name_localizations", at, is_valid_command_name, f"{what} name is invalid"
    )
    problems += _check_localizations(
        item,
        "description_localizations",
        at,
        _description_fits,
        f"Must be between 1 and {DESCRIPTION_MAX} in length.",
    )
    return problems


def _description_fits(text: str) -> bool:
    return 1 <= len(text) <= DESCRIPTION_MAX


def _check_options(options: Any, at: tuple[str | int, ...]) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(options, list):
        return problems
    if len(options) > OPTIONS_MAX:
        problems.append(Problem(at, "BASE_TYPE_MAX_LENGTH", f"Must be {OPTIONS_MAX} or fewer in length."))
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        if not isinstance(option, Mapping):
            continue
        here = (*at, i)
        problems += _check_name_and_description(option, here, "Option")
        if option.get("name") in names:
            problems.append(
                Problem((*here, "name"), "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate")
            )
        names.add(option.get("name"))
        if option.get("type") in (1, 2):
            problems += _check_options(option.get("options"), (*here, "options"))
            continue
        if option.get("required"):
            if seen_optional:
                problems.append(
                    Problem(
                        (*here, "required"),
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
                )
        else:
            seen_optional = True
        problems += _check_choices(option.get("choices"), (*here, "choices"))
    siblings = [o for o in options if isinstance(o, Mapping)]
    for locale, localized in _localized_names(siblings).items():
        for i, name in enumerate(localized):
            if name in localized[:i]:
                problems.append(
                    Problem(
                        (*at, i, "name_localizations", locale),
                        "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                        "Duplicate",
                    )
                )
    return problems


def _check_command(command: Any, at: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(command, Mapping):
        return []
    kind = command.get("type") or 1
    if kind == 1:
        return _check_name_and_description(command, at, "Command") + _check_options(
            command.get("options"), (*at, "options")
        )
    # User and message context menus: any case and spaces allowed, and no description.
    problems = []
    if command.get("description"):
        problems.append(
            Problem((*at, "description"), "BASE_TYPE_BAD_LENGTH", "Context menu commands take no description")
        )
    return problems


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def scheduled_event_problems(event: Mapping[str, Any]) -> list[Problem]:
    """What Discord refuses in a scheduled event (a create body, or an event with an edit applied)
    beyond the spec: an external event (entity_type 3) needs a location and an end time, and the times
    must parse as ISO 8601."""
    problems = []
    for key in ("scheduled_start_time", "scheduled_end_time"):
        value = event.get(key)
        if value is not None and _parse_time(value) is None:
            problems.append(
                Problem((key,), "DATE_TIME_TYPE_PARSE", f"Could not interpret {value!r} as date time.")
            )
    if event.get("entity_type") == EXTERNAL_EVENT:
        metadata = event.get("entity_metadata")
        location = metadata.get("location") if isinstance(metadata, Mapping) else None
        if not isinstance(location, str) or not location.strip():
            problems.append(
                Problem(("entity_metadata", "location"), "BASE_TYPE_REQUIRED", "This field is required")
            )
        if event.get("scheduled_end_time") is None:
            problems.append(Problem(("scheduled_end_time",), "BASE_TYPE_REQUIRED", "This field is required"))
    return problems


def discord_limits(method: str, template: str, body: Any) -> list[Problem]:
    """Problems with ``body`` that Discord reports but the OpenAPI spec does not encode."""
    key = (method.upper(), template)
    if not isinstance(body, (Mapping, list)):
        return []
    if key in _MESSAGE_BODIES and isinstance(body, Mapping):
        return _check_message(body, ())
    if key == _CALLBACK and isinstance(body, Mapping):
        data = body.get("data")
        if not isinstance(data, Mapping):
            return []
        if body.get("type") in (4, 7):
            return _check_message(data, ("data",))
        if body.get("type") == 8:
            return _check_choices(data.get("choices"), ("data", "choices"))
        if body.get("type") == 9:
            title = data.get("title")
            if not 1 <= _text_len(title) <= 45:
                return [
                    Problem(("data", "title"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
                ]
        return []
    if key in _COMMAND_LISTS and isinstance(body, list):
        problems: list[Problem] = []
        seen: set[tuple[Any, Any]] = set()
        for i, command in enumerate(body):
            problems += _check_command(command, (i,))
            if isinstance(command, Mapping):
                ident = (command.get("name"), command.get("type") or 1)
                if ident in seen:
                    problems.append(
                        Problem(
                            (i, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", f"Duplicate name {ident[0]!r}"
                        )
                    )
                seen.add(ident)
        return problems
    if key in _COMMAND_SINGLE:
        return _check_command(body, ())
    if key == _EVENT_CREATE and isinstance(body, Mapping):
        return scheduled_event_problems(body)
    return []


def error_tree(problems: Iterable[Problem]) -> dict[str, Any]:
    """Discord's nested ``errors`` object: keys along the path, ``_errors`` lists at the leaves."""
    tree: dict[str, Any] = {}
    for problem in problems:
        node = tree
        for key in problem.path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": problem.code, "message": problem.message})
    return tree


def dedupe(problems: Iterable[Problem]) -> list[Problem]:
    """The spec and the extra limits often report the same thing; keep one per place and code."""
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    out = []
    for p in problems:
        if (p.path, p.code) not in seen:
            seen.add((p.path, p.code))
            out.append(p)
    return out
