"""The support staff console's service layer: accounts, sessions, search and the job view.

Never imports ``portal.web``, ``portal.runtime`` or a channel: services take the store and
the job changes they use, and the endpoints in ``portal/web/staff.py`` render.
"""
