"""Getting word out: job changes (the one write path that queues outbox rows and publishes live
events), outbox rules, the delivery worker, message rendering, callbacks to the field system and
lateness checks.

Never imports ``portal.web`` or ``portal.customer``: requests reach notifications only through
outbox rows written by the store.
"""
