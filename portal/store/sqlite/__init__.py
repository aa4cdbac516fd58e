"""The embedded SQLite backend: one writer thread, WAL, versioned migrations.

Never imports ``portal.web``, a channel or the Redis backend.
"""
