"""Liberation Guardian: every webhook in, one incident, the right action out."""

__version__ = "0.1.0"
