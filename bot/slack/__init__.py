"""Everything that knows Slack's shapes: ids, Block Kit rendering, the notifier."""
