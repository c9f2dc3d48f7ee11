"""Grouping: fingerprints and the incident lifecycle."""
