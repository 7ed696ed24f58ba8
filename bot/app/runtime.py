"""A running bot: the HTTP front, the Slack connection, the outbox worker and the scheduler."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from sqlalchemy import Engine
from waitress.server import create_server

from bot.app.http import SlackRequestGuard, WSGIApp, build_wsgi
from bot.app.outbox import OutboxWorker
from bot.config import Program, RunMode, Settings
from bot.errors import DeliveryError
from bot.tickets.webhook import JiraWebhook
from handlers.services import Services
from storage import db
from storage.leader import Leadership

log = logging.getLogger(__name__)

HTTP_THREADS = 16
SLACK_CHECK_EVERY = 30.0  # seconds between auth.test calls made for /readyz


@dataclass
class Runtime:
    """A running bot: the HTTP front, the Slack connection and the outbox worker."""

    settings: Settings
    program: Program
    engine: Engine
    client: WebClient
    app: App
    services: Services
    worker: OutboxWorker
    leadership: Leadership
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: object | None = None
    _socket: SocketModeHandler | None = None
    _scheduler: BackgroundScheduler | None = None
    _slack_ok: bool = False
    _slack_checked_at: float = -SLACK_CHECK_EVERY
    port: int = 0

    def ready(self) -> tuple[bool, dict[str, bool]]:
        """Report readiness: the database answers and the Slack connection is up."""
        checks = {"database": db.ping(self.engine), "slack": self._slack_up()}
        return all(checks.values()), checks

    def _slack_up(self) -> bool:
        if self._socket is not None:
            return bool(self._socket.client.is_connected())
        # HTTP mode has no connection to watch: ask Slack, at most every SLACK_CHECK_EVERY.
        now = time.monotonic()
        if now - self._slack_checked_at >= SLACK_CHECK_EVERY:
            self._slack_checked_at = now
            try:
                self._slack_ok = bool(self.client.auth_test().get("ok"))
            except Exception as exc:  # any failure means "not ready"
                log.warning("Slack auth.test failed: %s", type(exc).__name__)
                self._slack_ok = False
        return self._slack_ok

    def start(self) -> Runtime:
        """Migrate, then start the worker, the HTTP server and (Socket Mode) the socket."""
        try:
            return self._start()
        except BaseException:
            self.stop()  # leave no worker or client thread behind a failed start
            raise

    def _start(self) -> Runtime:
        db.migrate(self.engine)
        self._spawn("outbox", lambda: self.worker.run_forever(self._stop))
        slack: WSGIApp | None = None
        if self.settings.mode is RunMode.SOCKET:
            assert self.settings.slack_app_token is not None
            self._socket = SocketModeHandler(
                self.app,
                self.settings.slack_app_token.get_secret_value(),
                # The client reconnects on its ping check only; every 3 s rather than 10 keeps
                # the gap after Slack drops the socket short.
                ping_interval=3,
                concurrency=HTTP_THREADS,
            )
            self._socket.connect()  # type: ignore[no-untyped-call]
        else:
            secret = self.settings.slack_signing_secret
            assert secret is not None
            slack = SlackRequestGuard(SlackRequestHandler(self.app), secret.get_secret_value())
        jira = None
        hook_secret = self.settings.jira_webhook_secret
        if hook_secret is not None and self.services.tickets.enabled:
            jira = JiraWebhook(hook_secret.get_secret_value(), self.services.tickets)
        self._start_scheduler()
        if self.services.tickets.enabled:
            self._spawn("jira-check", self._check_jira)
        server = create_server(
            build_wsgi(slack, self.ready, jira),
            host=self.settings.host,
            port=self.settings.port,
            threads=HTTP_THREADS,
            ident="hypercare-bot",
        )
        self._server = server
        self.port = int(server.effective_port)  # type: ignore[union-attr]
        self._spawn("http", lambda: _serve_until(server, self._stop))
        log.info(
            "hypercare bot listening on %s:%s (%s mode)",
            self.settings.host,
            self.port,
            self.settings.mode.value,
        )
        return self

    def _start_scheduler(self) -> None:
        """Schedule the periodic jobs: Jira status polls and gateway metric polls."""
        scheduler = BackgroundScheduler(timezone=self.program.zone)
        self._schedule_jira(scheduler)
        self._schedule_metrics(scheduler)
        if self.program.oncall is not None and self.services.oncall is not None:
            scheduler.add_job(
                self._led(self.services.oncall.announce_handoffs),
                "interval",
                seconds=60,
                id="oncall-handoffs",
                max_instances=1,
                coalesce=True,
                next_run_time=dt.datetime.now(dt.UTC),
            )
        if self.services.escalation is not None and self.services.escalation.enabled:
            # Due times live in the database; the tick only looks for the ones that have come.
            scheduler.add_job(
                self._led(self.services.escalation.tick),
                "interval",
                seconds=self.settings.escalation_tick_seconds,
                id="escalation-tick",
                max_instances=1,
                coalesce=True,
                next_run_time=dt.datetime.now(dt.UTC),
            )
        reports = [("digest-daily", self.services.digests), ("digest-weekly", self.services.weekly)]
        for job_id, service in reports:
            if service is None or self.program.channels.digest is None:
                continue
            # Is a slot due? Each (job, local date) is claimed once, whoever asks.
            scheduler.add_job(
                self._led(service.post_due),
                "interval",
                seconds=self.settings.digest_check_seconds,
                id=job_id,
                max_instances=1,
                coalesce=True,
                next_run_time=dt.datetime.now(dt.UTC),
            )
        if scheduler.get_jobs():
            scheduler.start()
            self._scheduler = scheduler

    def _led(self, job: Callable[[], object]) -> Callable[[], None]:
        """Run a job only on the replica that leads the scheduler (claims guard hand-overs)."""

        def run() -> None:
            if self.leadership.holds():
                job()

        run.__name__ = getattr(job, "__name__", "job")
        return run

    def _schedule_metrics(self, scheduler: BackgroundScheduler) -> None:
        alerts, metrics = self.services.alerts, self.program.metrics
        if alerts is None or metrics is None:
            return
        for source in metrics.sources:
            # One job per source: a slow source never delays another; reads never overlap. Only
            # the leading replica polls: the rule engine's memory is one record in the database.
            scheduler.add_job(
                self._led(functools.partial(alerts.poll, source.id)),
                "interval",
                seconds=source.interval,
                id=f"metrics-{source.id}",
                max_instances=1,
                coalesce=True,
                next_run_time=dt.datetime.now(dt.UTC),
            )

    def _schedule_jira(self, scheduler: BackgroundScheduler) -> None:
        jira = self.program.jira
        if jira is None or not self.services.tickets.enabled:
            return
        # Overlapping windows: a poll that failed or ran late is covered by the next one.
        window = math.ceil(3 * jira.poll_interval / 60) + 1
        scheduler.add_job(
            self._led(functools.partial(self._sync_tickets, window)),
            "interval",
            seconds=jira.poll_interval,
            id="jira-sync",
            max_instances=1,
            coalesce=True,
            next_run_time=dt.datetime.now(dt.UTC),  # first poll right away, to catch up
        )

    def _check_jira(self) -> None:
        """Say at start, in the log, which part of the Jira mapping Jira would refuse."""
        try:
            problems = self.services.tickets.check_mapping()
        except DeliveryError as error:
            log.warning("Jira mapping not checked at start (tickets wait in the outbox): %s", error)
            return
        for problem in problems:
            log.error("Jira mapping problem: %s", problem)

    def _sync_tickets(self, window: int) -> None:
        try:
            changed = self.services.tickets.sync(window)
        except DeliveryError as error:
            log.warning("Jira status poll failed: %s", error)
            return
        if changed:
            log.info("Jira poll: %s ticket(s) changed status", changed)

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def wait(self) -> None:
        """Block until stopped."""
        self._stop.wait()

    def stop(self) -> None:
        """Stop serving, finish the current outbox pass, close connections."""
        self._stop.set()
        self.worker.wake.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        self.leadership.release()
        if self.services.alerts is not None:
            self.services.alerts.close()
        if self._socket is not None:
            try:
                self._socket.close()  # type: ignore[no-untyped-call]
            except Exception as exc:  # slack_sdk can fail closing a socket Slack just closed
                log.warning("closing the Socket Mode connection failed: %s", type(exc).__name__)
        for thread in self._threads:
            thread.join(timeout=5)
        self.engine.dispose()


def _serve_until(server: Any, stop: threading.Event) -> None:
    """Run waitress's loop until `stop` is set (its own `run()` has no way to be stopped)."""
    while not stop.is_set():
        server.asyncore.loop(timeout=0.2, map=server._map, use_poll=True, count=1)
    server.close()
    server.task_dispatcher.shutdown()
