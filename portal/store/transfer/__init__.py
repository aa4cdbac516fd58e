"""``portal migrate-store``: copy everything from one backend to another, with progress.

Never imports ``portal.web`` or a channel.
"""
