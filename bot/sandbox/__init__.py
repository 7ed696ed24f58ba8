"""Loopback stand-ins for Slack: a Web API emulator and a user that sends signed requests."""

from bot.sandbox.slack_api import RecordedCall, SlackEmulator
from bot.sandbox.slack_user import SlackUserSimulator

__all__ = ["RecordedCall", "SlackEmulator", "SlackUserSimulator"]
