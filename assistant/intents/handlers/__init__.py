"""Handlers act on matched intents and say what to answer."""
