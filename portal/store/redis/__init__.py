"""The Redis backend: hashes, sorted sets and streams, Lua where a change must be atomic.

Never imports ``portal.web``, a channel or the SQLite backend.
"""
