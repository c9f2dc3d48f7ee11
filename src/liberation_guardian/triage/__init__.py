"""Triage: a chain of deciders, each of which returns a verdict or passes to the next."""

from liberation_guardian.triage.base import Action, Case, Decider, TriageChain, Verdict

__all__ = ["Action", "Case", "Decider", "TriageChain", "Verdict"]
