"""Live-event fan-out to open tracking streams (see ``base.Bus``)."""
