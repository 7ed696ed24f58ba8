"""A running bot: the HTTP front, the Slack connection, the outbox worker and the scheduler."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine
from waitress.server import create_server

from bot.app.http import SlackRequestGuard, build_wsgi
from bot.app.outbox import OutboxWorker
from bot.app.socket_mode import OverlappingSocketModeHandler
from bot.app.waker import JobWaker
from bot.config import Program, RunMode, Settings
from bot.parts import Part, WSGIApp
from bot.slack.client import PooledWebClient
from handlers.services import Services
from storage import db
from storage.leader import Leadership

log = logging.getLogger(__name__)

HTTP_THREADS = 16
# Open connections waitress keeps before it stops accepting (its default is 100). A go-live
# burst is a hundred people at once, some behind proxies that keep connections open: past the
# limit waitress logs a warning on every accept attempt and new requests wait in the backlog.
HTTP_CONNECTION_LIMIT = 1000
SLACK_CHECK_EVERY = 30.0  # seconds between auth.test calls made for /readyz


@dataclass
class Runtime:
    """A running bot: the HTTP front, the Slack connection, the outbox worker and the jobs
    of every part (it knows nothing of what the parts do)."""

    settings: Settings
    program: Program
    engine: Engine
    client: PooledWebClient
    app: App
    services: Services
    worker: OutboxWorker
    leadership: Leadership
    parts: Sequence[Part[Any]] = ()
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: object | None = None
    _socket: OverlappingSocketModeHandler | None = None
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
            self._socket = OverlappingSocketModeHandler(
                self.app, self.settings.slack_app_token.get_secret_value(), concurrency=HTTP_THREADS
            )
            self._socket.connect()
        else:
            secret = self.settings.slack_signing_secret
            assert secret is not None
            slack = SlackRequestGuard(
                SlackRequestHandler(self.app),
                secret.get_secret_value(),
                in_flight=self.worker.in_flight,
            )
        self._start_scheduler()
        for part in self.parts:
            for check in part.at_start:
                self._spawn(getattr(check, "__name__", "start-check"), check)
        routes = {path: route for part in self.parts for path, route in part.routes.items()}
        server = create_server(
            build_wsgi(slack, self.ready, routes),
            host=self.settings.host,
            port=self.settings.port,
            threads=HTTP_THREADS,
            connection_limit=HTTP_CONNECTION_LIMIT,
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
        """Schedule every part's periodic jobs, to run on the replica that leads."""
        scheduler = BackgroundScheduler(timezone=self.program.zone)
        jobs = [job for part in self.parts for job in part.jobs]
        waker = JobWaker(scheduler, jobs, self.leadership.holds, self._stop)
        for part in self.parts:
            for job in part.jobs:
                scheduler.add_job(
                    self._led(job.run, functools.partial(waker.after_run, job)),
                    "interval",
                    seconds=job.every_seconds,
                    id=job.id,
                    max_instances=1,
                    coalesce=True,
                    next_run_time=dt.datetime.now(dt.UTC),  # first run right away, to catch up
                )
        if scheduler.get_jobs():
            scheduler.start()
            self._scheduler = scheduler
            if waker.needed:
                self._spawn("job-waker", waker.run)

    def _led(
        self, job: Callable[[], object], then: Callable[[], None] | None = None
    ) -> Callable[[], None]:
        """Run a job only on the replica that leads the scheduler (claims guard hand-overs)."""

        def run() -> None:
            if self.leadership.holds():
                job()
                if then is not None:
                    then()

        run.__name__ = getattr(job, "__name__", "job")
        return run

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def wait(self) -> None:
        """Block until stopped."""
        self._stop.wait()

    def stop(self) -> None:
        """Stop serving, finish the current outbox pass, close connections (once)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.worker.wake.set()
        if self._scheduler is not None:
            # Let a running job finish first: it must not outlive the engine it uses.
            self._scheduler.shutdown(wait=True)
        self.leadership.release()
        for part in self.parts:
            for close in part.closers:
                close()
        if self._socket is not None:
            self._socket.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.client.close()
        self.engine.dispose()


def _serve_until(server: Any, stop: threading.Event) -> None:
    """Run waitress's loop until `stop` is set (its own `run()` has no way to be stopped)."""
    while not stop.is_set():
        server.asyncore.loop(timeout=0.2, map=server._map, use_poll=True, count=1)
    server.close()
    server.task_dispatcher.shutdown()
