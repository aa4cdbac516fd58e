"""``portal serve`` with the worker's retries sped up, run as a subprocess by the fault tests.

``python -m tests.fast_portal serve --port N`` builds the same app from the environment as
``portal serve`` does (``create_app``, uvicorn with ``uvicorn_options``); the only difference is
the worker's backoff: retries within tenths of a second instead of 2.5-5 s and more, so a test
that makes a provider fail three times in a row, or stay down past a backoff step, still ends
in a few seconds. What is retried, when a row counts as delivered, and the leases are unchanged.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from portal.app import create_app, uvicorn_options
from portal.notify.outbox import Backoff
from portal.notify.worker import WorkerConfig
from portal.runtime import Runtime
from portal.settings import from_env

# First retry 0.1-0.2 s, doubling to at most 1 s between attempts; idle polls every 0.2 s.
FAST_RETRIES = WorkerConfig(backoff=Backoff(first=0.2, cap=1.0), idle_seconds=0.2, stop_grace=1.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fast_portal")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = from_env().with_public_url(f"http://127.0.0.1:{args.port}")
    runtime = Runtime(settings, worker_config=FAST_RETRIES)
    app = create_app(settings, runtime=runtime)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info", access_log=False, **uvicorn_options())


if __name__ == "__main__":
    main()
