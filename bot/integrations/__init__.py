"""Adapters to external systems other than Slack (Jira, metric sources)."""
