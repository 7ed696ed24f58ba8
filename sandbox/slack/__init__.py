"""Loopback stand-ins for Slack: Web API, Socket Mode, and a user acting over HTTP or sockets."""

from sandbox.slack.api import RecordedCall, SlackEmulator
from sandbox.slack.socket_mode import SocketConnection, SocketModeServer, SocketModeUser
from sandbox.slack.user import SlackUserSimulator

__all__ = [
    "RecordedCall",
    "SlackEmulator",
    "SlackUserSimulator",
    "SocketConnection",
    "SocketModeServer",
    "SocketModeUser",
]
