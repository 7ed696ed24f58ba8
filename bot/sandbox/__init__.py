"""Loopback stand-ins for Slack: Web API, Socket Mode, and a user acting over HTTP or sockets."""

from bot.sandbox.slack_api import RecordedCall, SlackEmulator
from bot.sandbox.slack_user import SlackUserSimulator
from bot.sandbox.socket_mode import SocketConnection, SocketModeServer, SocketModeUser

__all__ = [
    "RecordedCall",
    "SlackEmulator",
    "SlackUserSimulator",
    "SocketConnection",
    "SocketModeServer",
    "SocketModeUser",
]
