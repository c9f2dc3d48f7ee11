"""Configuration: the schema of `liberation-guardian.yml` and the one place that reads it."""

from liberation_guardian.config.load import LoadedConfig, load_file, load_text
from liberation_guardian.config.schema import Settings

__all__ = ["LoadedConfig", "Settings", "load_file", "load_text"]
