"""The demo's field system: posts the scenario's steps as real signed webhooks over HTTP.

It talks to the portal the way a real field system would (``POST /webhooks/field`` with a
Standard Webhooks signature), so the demo exercises the same intake, store, notification
and live-update path as production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable

import httpx
from standardwebhooks import Webhook

from portal.clock import utc_now
from portal.demo.scenario import Scenario, Step

log = logging.getLogger("portal.demo")

POST_TIMEOUT_SECONDS = 10.0
RETRIES = 5  # a webhook the portal could not take (503) is sent again, as a real sender would
RETRY_SECONDS = 1.0


class FieldSimulator:
    def __init__(
        self, base_url: str, secret: str, scenario: Scenario, say: Callable[[str], None] | None = None
    ) -> None:
        self.url = base_url.rstrip("/") + "/webhooks/field"
        self.hook = Webhook(secret)
        self.scenario = scenario
        self.say = say or (lambda text: None)

    async def post(self, client: httpx.AsyncClient, step: Step) -> int:
        """Sign and send one step; return the HTTP status (202 or 200 on success)."""
        now = utc_now()
        data = dict(step.data)
        if step.type == "technician.location":
            data["recorded_at"] = now.isoformat()
        body = json.dumps({"type": step.type, "timestamp": now.isoformat(), "data": data})
        msg_id = f"msg_demo_{uuid.uuid4().hex}"
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.hook.sign(msg_id, now, body),
            "content-type": "application/json",
        }
        status = 0
        for _ in range(RETRIES):
            try:
                response = await client.post(self.url, content=body, headers=headers)
                status = response.status_code
            except httpx.TransportError as exc:
                log.warning("demo webhook not delivered (%s); trying again", exc)
                status = 0
            if status in (200, 202) or 400 <= status < 500:
                break
            await asyncio.sleep(RETRY_SECONDS)
        if status not in (200, 202):
            log.warning("demo webhook %s was answered %s", step.type, status)
        return status

    async def run(self, started: float) -> None:
        """Post every later step at its time, counted from ``started`` (a loop clock reading)."""
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS) as client:
            for step in self.scenario.steps:
                if step.at == 0:
                    continue
                delay = started + step.at - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.post(client, step)
                if step.note and step.type != "job.updated":
                    job_id = step.data.get("job_id")
                    self.say(f"demo: {job_id} {step.data.get('status', '')}: {step.note}")

    async def first_steps(self) -> float:
        """Post the steps at time zero (the jobs themselves); return the loop time they started."""
        started = asyncio.get_running_loop().time()
        async with httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS) as client:
            for step in self.scenario.steps:
                if step.at == 0:
                    await self.post(client, step)
        return started
