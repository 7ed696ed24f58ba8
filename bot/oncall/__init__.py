"""On-call rotas and escalation policies: program-file models and the pure timelines."""
