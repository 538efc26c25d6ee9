"""The bot's services, owned by the bot and shared by the cogs and the offline CLI."""

from bot.services.announcements import Announcements
from bot.services.catalogue import Catalogue
from bot.services.curation import Curation
from bot.services.follows import Follows
from bot.services.reminders import Reminders

__all__ = ["Announcements", "Catalogue", "Curation", "Follows", "Reminders"]
