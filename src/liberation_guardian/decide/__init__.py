"""Decide: turn a verdict into a stored decision and the deliveries it calls for."""
