"""``portal migrate-store``: copy everything from one backend to another, with progress.

Knows no backend's schema: each backend exports and imports its own records (``base.TransferStore``).
Never imports ``portal.web``, a channel or a backend module.
"""
