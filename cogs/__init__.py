"""Discord-facing cogs: thin adapters from interactions to the domain and the store."""
