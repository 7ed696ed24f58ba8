"""Escalation: items climb timed tiers of the on-call rota until someone acknowledges."""
