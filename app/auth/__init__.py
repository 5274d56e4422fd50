"""API keys: parsed from the settings, fetched from their source, checked on every route
but the open ones.
"""
