"""Which specialist takes an incident, by its category (and, for two categories, by its words or source).

- infrastructure, availability, cost, network: the infrastructure agent;
- security: the security agent, and the infrastructure agent too (containment) when an
  infrastructure monitor reported it;
- dependency: the security agent, when it is a vulnerability (not a version conflict);
- performance: the performance agent;
- database: the performance agent when it is slow (latency, locks, the pool), else the
  infrastructure agent;
- application, ci, configuration, other: none; the analysis agent's recommendation stands alone.

Whatever its category, a finding of a security scanner (a vulnerability, a code scanning,
secret scanning or Dependabot alert) goes to the security agent.
"""

from __future__ import annotations

import re

from liberation_guardian.agents.base import Agent, Situation
from liberation_guardian.agents.infrastructure import InfrastructureAgent
from liberation_guardian.agents.performance import PerformanceAgent
from liberation_guardian.agents.security import SecurityAgent

INFRASTRUCTURE = InfrastructureAgent()
SECURITY = SecurityAgent()
PERFORMANCE = PerformanceAgent()

# Sources that watch hosts, clusters and clouds: a security finding from them is about a running resource.
INFRASTRUCTURE_SOURCES = frozenset(
    {"alertmanager", "azure", "cloudwatch", "datadog", "gcp", "grafana", "kubernetes", "nagios", "prtg", "zabbix"}
)
_VULNERABLE = re.compile(r"vulnerab|advisory|\bcve-|\bghsa-|security|exploit", re.I)
_VULNERABILITY_KINDS = frozenset({"dependabot_alert", "vulnerability", "security_advisory", "audit_report"})
_SCANNER_KINDS = _VULNERABILITY_KINDS | {"code_scanning_alert", "secret_scanning_alert"}
_SLOW = re.compile(r"slow|latency|timeout|timed out|deadlock|lock wait|connection pool|pool exhausted|p9\d", re.I)
_BY_CATEGORY: dict[str, Agent] = {
    "infrastructure": INFRASTRUCTURE,
    "availability": INFRASTRUCTURE,
    "cost": INFRASTRUCTURE,
    "network": INFRASTRUCTURE,
    "performance": PERFORMANCE,
}


def specialists_for(situation: Situation) -> list[Agent]:
    """The specialists that take this incident, in order (often one, sometimes none)."""
    category = situation.category
    if situation.kind in _SCANNER_KINDS and category not in ("security", "dependency"):
        return [SECURITY]
    if category == "security":
        return [SECURITY, INFRASTRUCTURE] if situation.source in INFRASTRUCTURE_SOURCES else [SECURITY]
    if category == "dependency":
        vulnerable = situation.kind in _VULNERABILITY_KINDS or _VULNERABLE.search(situation.text)
        return [SECURITY] if vulnerable else []
    if category == "database":
        return [PERFORMANCE] if _SLOW.search(situation.text) else [INFRASTRUCTURE]
    agent = _BY_CATEGORY.get(category)
    return [agent] if agent is not None else []
