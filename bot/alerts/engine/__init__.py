"""Gateway metrics: reading sources (exposition scrapes, PromQL) and evaluating threshold rules."""
