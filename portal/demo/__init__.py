"""``portal demo``: the whole product on a laptop, driven by a simulated field system."""
