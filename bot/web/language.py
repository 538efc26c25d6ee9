"""Which of the bot's languages a visitor reads, from the browser's Accept-Language (RFC 9110 §12.5.4).

The seven of bot/i18n.py, as Discord names them; English for anything else. A language tag is matched by
its primary subtag, except Spanish: Spain's (es-ES, and a bare "es") or Latin America's (es-419, es-MX,
es-AR... every other region).
"""

from __future__ import annotations

from bot.i18n import LANGUAGES

ENGLISH = ""  # a choice of English, told apart from "no choice" while ranking
_BY_PRIMARY = {"it": "it", "hi": "hi", "pt": "pt-BR", "fr": "fr", "de": "de", "en": ENGLISH, "*": ENGLISH}
MAX_HEADER = 500  # characters of Accept-Language read; browsers send a few dozen


def _locale(tag: str) -> str | None:
    """The bot's Discord locale for one language tag (ENGLISH for English), None for one it lacks."""
    tag = tag.strip().lower()
    primary, _, region = tag.partition("-")
    if primary == "es":
        return "es-ES" if region in ("", "es") else "es-419"
    return _BY_PRIMARY.get(primary)


def _weight(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                return 0.0
            return q if 0.0 <= q <= 1.0 else 0.0
    return 1.0


def negotiate(header: str | None) -> str | None:
    """The Discord locale to answer in (None: English): the visitor's most wanted language the bot
    speaks, the first listed among equals. q=0 means "not this one"."""
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate((header or "")[:MAX_HEADER].split(",")):
        tag, _, params = part.partition(";")
        locale = _locale(tag)
        q = _weight(params)
        if locale is not None and q > 0:
            ranked.append((-q, order, locale))
    if not ranked:
        return None
    best = min(ranked)[2]
    assert best == ENGLISH or best in LANGUAGES
    return best or None
