"""SlackDirectory: the Directory port, people found by e-mail and e-mails of people, cached."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout

from slack_sdk import WebClient

from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.slack.notifier import slack_call

log = logging.getLogger(__name__)

# `is_deactivated` answers a command within Slack's 3 s: a slower users.info counts as unknown.
QUICK_LOOKUP_S = 1.0

_NOT_FOUND = {"users_not_found", "user_not_found"}


class SlackDirectory:
    """Maps Slack users and e-mails both ways (users.lookupByEmail, users.info).

    What is found is remembered for the life of the process; "not found" is not, so a person
    who joins Slack (or fills in an e-mail) later is found on the next look.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._users: dict[str, str] = {}  # e-mail (lower case) -> user id
        self._emails: dict[str, str] = {}  # user id -> e-mail
        self._lock = threading.Lock()
        self._quick = ThreadPoolExecutor(2, thread_name_prefix="directory")

    def user_for_email(self, email: str) -> str | None:
        """The active Slack user with this e-mail, or None."""
        key = email.strip().lower()
        with self._lock:
            if key in self._users:
                return self._users[key]
        try:
            response = slack_call(
                "users.lookupByEmail", lambda: self._client.users_lookupByEmail(email=key)
            )
        except DeliveryRefused as refused:
            if refused.reason.split(": ", 1)[-1] in _NOT_FOUND:
                return None
            raise
        user = response["user"]
        if user.get("deleted"):
            return None
        with self._lock:
            self._users[key] = str(user["id"])
        return str(user["id"])

    def is_deactivated(self, user: str) -> bool:
        """Whether users.info says the account is deactivated; asked afresh each time (people
        leave), and False when Slack does not know them or cannot answer within
        `QUICK_LOOKUP_S` (it is asked while a command waits for its answer)."""
        lookup = self._quick.submit(
            slack_call, "users.info", lambda: self._client.users_info(user=user)
        )
        try:
            response = lookup.result(timeout=QUICK_LOOKUP_S)
        except (DeliveryRefused, DeliveryDeferred, LookupTimeout) as failed:
            log.warning("could not tell whether %s is deactivated: %r", user, failed)
            return False
        return bool((response["user"] or {}).get("deleted"))

    def email_of(self, user: str) -> str | None:
        """A Slack user's e-mail (needs the users:read.email scope), or None."""
        with self._lock:
            if user in self._emails:
                return self._emails[user]
        try:
            response = slack_call("users.info", lambda: self._client.users_info(user=user))
        except DeliveryRefused as refused:
            if refused.reason.split(": ", 1)[-1] in _NOT_FOUND:
                return None
            raise
        email = ((response["user"] or {}).get("profile") or {}).get("email")
        if not email:
            return None
        with self._lock:
            self._emails[user] = str(email)
        return str(email)
