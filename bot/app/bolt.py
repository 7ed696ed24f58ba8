"""The Bolt app factory: routing, service injection and one error handler."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

import handlers
from bot.app.http import shape_of, well_formed
from bot.domain import Field
from bot.slack.blocks import feedback as blocks
from bot.slack.ids import block_id
from handlers.services import Services
from storage.db import mark_foreground

log = logging.getLogger(__name__)

LISTENER_THREADS = 16  # Bolt's default of 5 lets five slow listeners starve every later ack
# Slack calls a listener makes once it has acked (opening the form): on their own threads, so
# a burst of them never keeps Bolt's listener threads from acking the next requests.
AFTER_ACK_THREADS = 16


class AfterAck:
    """Runs a listener's work after its ack on the after-ack pool, reporting failures as a
    listener failure (a log line with a reference, and a private note to the user)."""

    def __init__(self, pool: ThreadPoolExecutor, body: dict[str, Any], client: WebClient):
        self._pool, self._body, self._client = pool, body, client

    def __call__(self, work: Callable[[], object]) -> None:
        self._pool.submit(self._run, work)

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception as error:  # the listener returned long ago: report it as Bolt would
            report_error(error, self._body, None, self._client)


class RefuseMisshapen(Middleware):
    """Refuses (400) a signed body that is not the shape Slack sends, before Bolt's routing or
    argument injection reads keys of it that Bolt does not check (a 500 otherwise).

    A class, not a function: Bolt builds a function middleware's arguments from the body,
    which is what crashes on such a body.
    """

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        if well_formed(req.body):
            return next()
        log.warning("signed slack request with a malformed body refused (%s)", shape_of(req.body))
        return BoltResponse(status=400, body={"error": "malformed payload"})


def build_app(*, client: WebClient, signing_secret: str | None, services: Services) -> App:
    """Build the Bolt app for HTTP or Socket Mode."""
    app = App(
        client=client,
        signing_secret=signing_secret,
        # HTTP mode verifies signatures in front of Bolt too (bot.app.http); Bolt checks again.
        request_verification_enabled=signing_secret is not None,
        token_verification_enabled=False,
        # Listeners answer Slack within 3 s: their database work goes before background work.
        listener_executor=ThreadPoolExecutor(
            LISTENER_THREADS, thread_name_prefix="listener", initializer=mark_foreground
        ),
        raise_error_for_unhandled_request=False,
    )

    after_ack = ThreadPoolExecutor(AFTER_ACK_THREADS, thread_name_prefix="after-ack")

    app.use(RefuseMisshapen())  # first: before anything reads keys Bolt does not check

    @app.middleware
    def inject_services(
        context: dict[str, Any], body: dict[str, Any], next: Callable[[], None]
    ) -> None:
        # Bolt builds a fresh WebClient per request, which would open a new connection per
        # call; the bot's token never changes per request, so listeners share the one pooled
        # client (thread-safe) instead.
        context["client"] = client
        context["services"] = services
        context["after_ack"] = AfterAck(after_ack, body, client)
        next()

    app.error(report_error)
    handlers.register(app)
    return app


def report_error(
    error: Exception, body: dict[str, Any], response: BoltResponse | None, client: WebClient
) -> BoltResponse | None:
    """Log a failed listener with a reference id and show the user a friendly answer."""
    reference = secrets.token_hex(4)
    kind = body.get("type") or ("slash_command" if "command" in body else "unknown")
    log.error(
        "listener failed: %s (ref %s, %s)", type(error).__name__, reference, kind, exc_info=error
    )
    message = blocks.error_message(reference)
    if response is None:  # already acknowledged: tell the user out of band, where we can
        _tell_privately(client, body, message)
        return None
    if kind == "view_submission":
        # Keep the modal open with the user's input, and say what happened on its first field.
        retry = f"We could not save this just now (ref {reference}). Please press Submit again."
        errors = {block_id(Field.SUMMARY): retry}
        payload = {"response_action": "errors", "errors": errors}
    elif kind == "slash_command":
        payload = {"response_type": "ephemeral", "text": message}
    else:
        return BoltResponse(status=200, body="")
    return BoltResponse(
        status=200, body=json.dumps(payload), headers={"content-type": "application/json"}
    )


def _tell_privately(client: WebClient, body: dict[str, Any], message: str) -> None:
    """Show an ephemeral error where the user acted (a command or a message shortcut)."""
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    if not channel or not user:
        return
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=message)
    except Exception as exc:  # the error path must never raise; the log line above is kept
        log.warning("could not show the error to the user: %s", type(exc).__name__)
