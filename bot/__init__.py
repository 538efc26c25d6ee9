"""citadel-bot: sourced Citadel franchise facts and release countdowns for Discord."""
