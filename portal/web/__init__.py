"""HTTP endpoints: each reads a request, calls one service function, and renders.

Wire formats (pages, JSON, SSE frames, TwiML) are made here and nowhere else. Never imports a
channel or a store backend's internals: services do the work.
"""
