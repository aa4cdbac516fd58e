"""Pure decisions over plain data: job events, notification policy, the reply grammar, ETA, slots.

Never imports anything with I/O or a clock (only pure standard modules, ``phonenumbers``,
``zoneinfo`` and other core modules): ``now`` is always an argument, so everything here is
tested directly.
"""
