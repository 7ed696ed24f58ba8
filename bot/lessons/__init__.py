"""Lessons learned: the register anyone adds to, listed on demand and in the weekly review."""
