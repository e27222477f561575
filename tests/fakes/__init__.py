"""Fake external services for tests; each listens on 127.0.0.1 only."""
