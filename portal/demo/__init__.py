"""``portal demo``: the whole product on a laptop, driven by a simulated field system.

Never imports a channel: demo messages are recorded, never sent. Only ``demo/command.py``
builds a runtime and an app (it is a command, like ``portal serve``).
"""
