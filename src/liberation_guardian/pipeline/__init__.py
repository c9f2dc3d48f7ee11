"""The pipeline: the stages that run on each stored event, and the loops that drive them."""
