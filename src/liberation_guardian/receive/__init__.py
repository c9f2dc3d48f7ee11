"""Receive: the webhook route and the writer that commits accepted events durably."""
