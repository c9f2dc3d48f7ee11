"""Observing ourselves: metrics, logs and health."""
