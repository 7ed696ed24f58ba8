"""Root causes and post-mortems: a resolved urgent item's root cause, reminders, drafts."""
