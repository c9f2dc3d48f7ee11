"""The knowledge base: known problems, what to do about them, and how to recognise them fast.

The shipped pattern pack (`patterns/*.yml`, one file per stack) holds a few hundred
signatures of problems small teams meet again and again: a missing Python module, a
database that refuses connections, a pod in `CrashLoopBackOff`, an expired certificate.
Each pattern says what category and severity the problem is, what a small team should do
by default, and a short runbook.

- `pack.py` reads and validates a pack (`load_pack`): unique ids, regexes that compile,
  examples matched by their own pattern, values from the shared vocabulary.
- `match.py` builds a `PatternIndex` that finds the most specific pattern for an event's
  text without running every regular expression.
- `playbooks.py` reads the infrastructure playbooks (`playbooks/*.yml`: what to do, step by
  step, for a full disk, a NotReady node, a leaked credential, ...) and selects the ones
  that apply to an incident, the most specific first.

This package only knows patterns and playbooks; it does not decide anything. The triage
chain asks it for a match and turns the answer into a verdict; the agents ask it for the
playbook that applies.
"""

from __future__ import annotations

from liberation_guardian.knowledge.match import Match, PatternIndex
from liberation_guardian.knowledge.pack import Example, Pack, PackError, Pattern, load_pack

__all__ = ["Example", "Match", "Pack", "PackError", "Pattern", "PatternIndex", "load_pack"]
