"""Learning: what became of decisions (outcomes, resolutions) and what people said of them (feedback)."""
