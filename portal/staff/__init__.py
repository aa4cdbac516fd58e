"""The support staff console's service layer: accounts, sessions, search and the job view."""
