"""Hypercare Bot: a Slack chat-ops bot for the weeks after a go-live."""

__version__ = "0.1.0"
