"""Loopback HTTP servers for tests (OpenAI-compatible ones live here)."""
