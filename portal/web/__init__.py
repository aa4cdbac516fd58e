"""HTTP endpoints: each reads a request, calls one service function, and renders."""
