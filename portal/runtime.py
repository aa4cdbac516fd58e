"""The running portal: builds its long-lived parts, starts them in order, stops them in reverse.

``create_app`` starts and stops a ``Runtime`` through its lifespan; ``portal link`` and the
demo use one directly. Endpoints take the service they call from ``request.app.state.runtime``
and pass it what the request says; services get the collaborators they use, never the runtime.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta

from portal.bus import open_bus
from portal.bus.base import Bus
from portal.clock import now_iso, utc_now
from portal.core.calibration import Calibration
from portal.core.eta import KMH, EtaConfig
from portal.core.policy import Policy
from portal.core.slots import SlotPolicy
from portal.customer.actions import PageForms
from portal.customer.conversation import Conversation
from portal.customer.delivery_reports import DeliveryReports
from portal.customer.streams import StreamCap
from portal.customer.tracking import LinkRules, Tracking
from portal.i18n import Translations
from portal.intake import EventParser, FieldIntake, SignatureVerifier
from portal.links import FormTokens, LinkSigner
from portal.metrics import Metrics
from portal.notify.changes import JobChanges
from portal.notify.worker import Worker, WorkerConfig
from portal.resources import data_dir
from portal.routing import Router, RoutingClient
from portal.settings import Settings
from portal.staff.console import Console
from portal.store import open_store
from portal.store.base import Store, stop_task
from portal.store.insight import recent_calibration
from portal.store.readiness import Readiness
from portal.store.retention import purge_expired
from portal.store.throttle import open_throttle

log = logging.getLogger("portal")

BAD_LINK_LIMIT = 20  # bad tokens one client may try ...
BAD_LINK_WINDOW = 300.0  # ... per 5 minutes before being answered 429
MAINTENANCE_INTERVAL = 3600.0  # hourly: dedup records, bounded lists and retention need no more
# How often the calibrated ETA ranges are rebuilt from the arrivals' counters: one small read;
# a day brings a few dozen arrivals at most, so a quarter of an hour is fresh enough.
CALIBRATION_INTERVAL = 900.0
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"  # what links point at when PORTAL_PUBLIC_URL is unset


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        bus: Bus | None = None,
        run_worker: bool = True,
        worker_config: WorkerConfig | None = None,
    ) -> None:
        self.settings = settings
        self.public_url = settings.public_url or DEFAULT_PUBLIC_URL
        self.store: Store = store or open_store(settings)
        self.bus: Bus = bus or open_bus(self.store)
        self.links = LinkSigner(settings.secret_keys)
        self.translations = Translations(settings.templates_dir, settings.company_name)
        self.metrics = Metrics()
        self.readiness = Readiness(self.store)
        self.streams = StreamCap(settings.max_streams_per_client)
        self.eta_config = eta_config_of(settings)
        self.slot_policy = SlotPolicy(settings.reschedule_slots)
        self.changes = JobChanges(
            self.store,
            self.bus,
            self.metrics,
            policy=policy_of(settings),
            eta_config=self.eta_config,
            slot_policy=self.slot_policy,
            region=settings.default_region,
        )
        verifier = SignatureVerifier(settings.webhook_secrets)
        parser = EventParser(data_dir("webhooks") / "schemas")
        self.intake = FieldIntake(verifier, parser, self.changes, self.store, self.metrics)
        self.tracking = Tracking(
            self.store,
            self.bus,
            self.links,
            open_throttle(self.store, "bad-link", BAD_LINK_LIMIT, BAD_LINK_WINDOW),
            self.metrics,
            self.translations,
            LinkRules(settings.link_ttl_days, self.public_url),
            eta_config=self.eta_config,
            slot_policy=self.slot_policy,
        )
        self.forms = PageForms(self.changes, FormTokens(settings.secret_keys), settings.review_url)
        self.conversation = Conversation(self.store, self.changes, settings)
        self.delivery_reports = DeliveryReports(
            self.store, self.metrics, settings.twilio_auth_token, on_attention=self.changes.nudge_staff
        )
        self.console = Console(
            self.store, self.changes, region=settings.default_region, ttl_days=settings.link_ttl_days
        )
        self.router: Router | None = None
        if settings.routing_url:
            self.router = Router(RoutingClient(settings.routing_url, self.metrics), self.changes.store_route)
            self.changes.stored_field_change = self.router.consider
        self._tasks: list[asyncio.Task[None]] = []
        self.worker: Worker | None = None
        if run_worker:
            self.worker = Worker(
                self.store,
                settings,
                self.links,
                self.metrics,
                self.public_url,
                worker_config,
                late_check=self.changes.check_late,
                on_attention=self.changes.nudge_staff,
            )
            self.changes.wake = self.worker.wake

    async def start(self) -> None:
        await self.store.open()
        await self.bus.start()
        await self.readiness.probe()
        self._tasks.append(asyncio.create_task(self.readiness.run(), name="readiness"))
        self._tasks.append(asyncio.create_task(self._maintenance(), name="maintenance"))
        self._tasks.append(asyncio.create_task(self._calibration(), name="calibration"))
        if self.worker is not None:
            await self.worker.start()

    async def stop(self) -> None:
        if self.router is not None:
            await self.router.stop()
        if self.worker is not None:
            await self.worker.stop()
        for task in reversed(self._tasks):
            await stop_task(task, log)
        self._tasks.clear()
        await self.bus.stop()
        await self.store.close()

    async def _maintenance(self) -> None:
        while True:
            try:
                await self.store.maintain(now_iso())
            except Exception:
                log.exception("store maintenance failed; will try again")
            try:
                await purge_expired(self.store, self.settings, utc_now())
            except Exception:
                log.exception("purging jobs past retention failed; will try again")
            await asyncio.sleep(MAINTENANCE_INTERVAL)

    async def _calibration(self) -> None:
        while True:
            try:
                await self.calibrate()
            except Exception:
                log.exception("rebuilding the calibrated ETA ranges failed; will try again")
            await asyncio.sleep(CALIBRATION_INTERVAL)

    async def calibrate(self) -> Calibration:
        """Rebuild the calibrated ETA ranges from recent arrivals and use them from now on.

        Pages, live events and the ETA log all read ``eta_config`` when they need it, so the new
        table applies to the next estimate shown; until it holds enough arrivals
        (``PORTAL_ETA_CALIBRATION_MIN_ARRIVALS``) the ranges stay the rule of thumb.
        """
        table = await recent_calibration(self.store, utc_now())
        minimum = self.eta_config.calibration_min_arrivals
        before = self.eta_config.calibration
        if table.ready(minimum) and not (before is not None and before.ready(minimum)):
            log.info("ETA ranges are now measured from %d recent arrivals", table.arrivals)
        self.eta_config = dataclasses.replace(self.eta_config, calibration=table)
        self.changes.eta_config = self.eta_config
        self.tracking.eta_config = self.eta_config
        return table

    async def link_url(self, job_id: str) -> str | None:
        """The job's current tracking link (``portal link``, the demo), None for no such job."""
        record = await self.store.get_job(job_id)
        if record is None:
            return None
        return self.links.url(self.public_url, record.link_key)


def eta_config_of(settings: Settings) -> EtaConfig:
    """The ETA estimator's tuning the operator configured."""
    return EtaConfig(
        detour_factor=settings.eta_detour_factor,
        urban_speed_mps=settings.eta_urban_speed_kmh * KMH,
        stale_after=timedelta(seconds=settings.location_stale_seconds),
        arrival_radius_m=settings.arrival_radius_m,
        calibration_min_arrivals=settings.eta_calibration_min_arrivals,
    )


def policy_of(settings: Settings) -> Policy:
    """The notification policy the operator configured."""
    return Policy(
        enabled=settings.notifications,
        quiet_hours=settings.quiet_hours,
        reminder_time=settings.reminder_time,
        reminder_lead=timedelta(hours=settings.reminder_lead_hours),
    )
