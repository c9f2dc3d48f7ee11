"""The read API under /api/*: events, incidents, decisions, and acknowledge/resolve."""
