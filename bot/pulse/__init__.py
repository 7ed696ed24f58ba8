"""The user pulse: a short satisfaction question on a schedule, 1–5 answers, CSAT figures."""
