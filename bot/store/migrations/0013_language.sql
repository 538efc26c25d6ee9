-- The language of a server's posts (issue #13, section 3): /announce language. A Discord locale the bot
-- speaks ("it", "hi", "es-ES", "es-419", "pt-BR", "fr", "de", or "en-US" for English); NULL: the server's
-- own language, which Discord sends as the guild's `preferred_locale` (English where it is one the bot
-- does not speak).

ALTER TABLE guild_settings ADD COLUMN language TEXT;
