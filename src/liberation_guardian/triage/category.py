"""A first guess at what kind of problem an event is, from its source, kind and words.

The categories name the specialists that will take incidents later (infrastructure,
security, performance) and the kinds of fixes (ci, dependency). Later deciders may
replace this guess with a better one; this one only reads words already in the event.
"""

from __future__ import annotations

import re

# The whole taxonomy, in the vocabulary decisions, feedback, patterns and the corpus share.
TAXONOMY = (
    "application",
    "availability",
    "ci",
    "configuration",
    "cost",
    "database",
    "dependency",
    "infrastructure",
    "network",
    "performance",
    "security",
    "other",
)

CATEGORIES: dict[str, re.Pattern[str]] = {
    "security": re.compile(
        r"secur|vulnerab|cve-|intrusion|unauthori[sz]ed|forbidden|brute.?force|malware|leak(ed)? (secret|key|token)"
        r"|secret scanning|certificate (expired|invalid)|tls handshake|ssl",
        re.I,
    ),
    "dependency": re.compile(
        r"dependabot|vulnerable (package|dependenc)|npm audit|outdated (package|dependenc)|advisory|\bghsa-"
        r"|dependency (update|conflict|resolution)|eresolve|peer dep",
        re.I,
    ),
    "cost": re.compile(r"\bcost\b|billing|budget|spend(ing)?\b|invoice|\bcharges?\b", re.I),
    "database": re.compile(r"database|\bdb\b|sql|postgres|mysql|mariadb|mongo|redis|deadlock|connection pool", re.I),
    "ci": re.compile(r"\bci\b|pipeline|build (failed|failure)|workflow|test(s)? fail|lint|job failed|check run", re.I),
    "availability": re.compile(
        r"\bdown\b|unreachable|unavailable|not responding|instance ?down|outage|health ?check|5\d\d\b", re.I
    ),
    "performance": re.compile(r"latency|slow|timeout|timed out|throughput|response time|p9\d|saturat", re.I),
    "infrastructure": re.compile(
        r"cpu|memory|\boom\b|out of memory|disk|inode|filesystem|node|pod|container|kube|crashloop|quota"
        r"|temperature|load average|swap",
        re.I,
    ),
    "network": re.compile(r"network|dns|packet|connection (refused|reset)|socket|econn|unreachable host", re.I),
    "configuration": re.compile(r"environment variable|config(uration)?|missing (key|setting)|not set", re.I),
}


def categorize(source: str, kind: str, text: str, exception_type: str | None = None) -> str:
    """The first category whose words appear in the event; `application` for exceptions, else `other`."""
    for name, pattern in CATEGORIES.items():
        if pattern.search(text):
            return name
    if exception_type or kind in {"error", "issue", "event_alert", "legacy_plugin"}:
        return "application"
    return "other"
