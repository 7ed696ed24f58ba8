"""Owners: who has an item (taken in Slack, assigned by a lead, or the Jira assignee)."""
