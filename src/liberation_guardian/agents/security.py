"""The security agent: classify the threat, then respond by its severity.

The threat level starts at the decision's severity and is raised where the event says
more than its severity does: a secret that leaked publicly, an intrusion or malware is
critical; remote code execution or a known exploit is at least high. The response then
follows the level (kind, then what it asks for):

- critical, `emergency_response`: now; revoke and rotate, contain, audit use since exposure, page;
- high, `security_patch`: within 72 h; the patch itself (upgrade to the fixed version, or
  fix the flagged line);
- medium, `scheduled_security_update`: within 30 days; a ticket for the next maintenance window;
- low and info, `log_and_monitor`: keep on record, watch for an exploit or a raised severity.

Package, versions, advisory ids, secret type and code location come from the labels the
security sources set (GitHub, Snyk, npm audit, SonarQube), so the plan names them. Those
steps stay first; the playbook that applies (a leaked credential, a suspected breach, an
expiring certificate) replaces the generic rest.
"""

from __future__ import annotations

import re

from liberation_guardian.agents.base import Advice, Situation, impact_of, playbook_evidence, with_playbook
from liberation_guardian.events import Severity

NAME = "security"

_CRITICAL = re.compile(
    r"publicly.?leaked|secret (scanning|leak|exposed)|leaked (secret|key|token|credential)|private key"
    r"|intrusion|breach|malware|ransomware|compromised|exfiltrat",
    re.I,
)
_SECRET = re.compile(r"secret|credential|\btoken\b|api.?key|private key|password", re.I)
_HIGH = re.compile(r"remote code execution|\brce\b|actively exploited|known exploited|exploit (available|mature)", re.I)
_RESPONSES = {
    Severity.critical: ("emergency_response", 0),
    Severity.high: ("security_patch", 72),
    Severity.medium: ("scheduled_security_update", 30 * 24),
}


class SecurityAgent:
    """Concrete security handling by threat level; see the module docstring."""

    name = NAME

    def advise(self, situation: Situation) -> Advice:
        """The response the situation's threat level calls for."""
        threat = classify_threat(situation)
        kind, hours = _RESPONSES.get(threat, ("log_and_monitor", None))
        facts = _facts(situation)
        summary, plan, prevention, template = _HANDLERS[kind](situation, facts)
        playbook = playbook_evidence(situation.playbook)
        return Advice(
            agent=NAME,
            kind=kind,
            summary=summary,
            impact=impact_of(situation),
            plan=tuple(plan),
            prevention=tuple(prevention),
            evidence={"event_id": situation.event_id, **{k: v for k, v in facts.items() if v}, "playbook": playbook},
            details={"threat": threat.value, "due_within_hours": hours, "fix_template": template},
        )


def classify_threat(situation: Situation) -> Severity:
    """The threat level: the decision's severity, raised by what the event says."""
    level = situation.severity
    exposed = _CRITICAL.search(situation.text) or (situation.label("publicly_leaked") or "").lower() == "true"
    if exposed:
        return Severity.critical
    if _HIGH.search(situation.text) or (situation.label("exploit_maturity") or "").lower() in ("mature", "attacked"):
        return max(level, Severity.high, key=lambda s: s.rank)
    return level


def _facts(s: Situation) -> dict[str, str | None]:
    advisory = s.label("cve_id", "cve", "ghsa_id") or _first(r"\b(CVE-\d{4}-\d{4,}|GHSA(-[\w]{4}){3})\b", s.text)
    return {
        "package": s.label("package"),
        "version": s.label("version", "installed_version", "vulnerable_version_range"),
        "fixed_version": s.label("patched_version", "fixed_in", "fixed_version")
        or _first(r"fixed in ([\w.\-]+)", s.text),
        "advisory": advisory,
        "secret_type": s.label("secret_type"),
        "location": s.label("location", "manifest_path", "file"),
        "repository": s.label("repository") or s.service,
    }


def _first(pattern: str, text: str) -> str | None:
    """The pattern's first group (or whole match) in the text, without trailing punctuation."""
    match = re.search(pattern, text, re.I)
    if match is None:
        return None
    return (match.group(1) if match.re.groups else match.group(0)).rstrip(".,;")


Handling = tuple[str, list[str], list[str], str | None]


def _emergency(s: Situation, f: dict[str, str | None]) -> Handling:
    if f["secret_type"] or _SECRET.search(s.text):
        return _exposed_secret(s, f)
    return _compromise(s, f)


def _exposed_secret(s: Situation, f: dict[str, str | None]) -> Handling:
    what = f["secret_type"] or "the exposed credential"
    where = f" in {f['repository']}" if f["repository"] else ""
    specific = [
        f"Now: revoke {what}{where} at its issuer and issue a new one; update every consumer from the secret store.",
        f"Contain: end the sessions and tokens {what} granted until it is rotated.",
    ]
    generic = [
        "Audit its use since the exposure began (provider audit logs, access logs) for actions you did not take.",
        "Remove it from the code and history (git filter-repo) only after it is revoked; a rewrite does not un-leak.",
        "Page the security owner and keep a timeline of what was exposed, when, and what was done.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = [
        "Turn on secret scanning push protection so a secret is refused before it is pushed.",
        "Load secrets from a secret manager at run time; keep none in code or images.",
    ]
    return f"Emergency response: {what}{where} is exposed; revoke and rotate it now.", plan, prevention, "rotate-secret"


def _compromise(s: Situation, f: dict[str, str | None]) -> Handling:
    subject = f["package"] or f["repository"] or s.service or "the affected system"
    specific = [
        f"Now: isolate what runs {subject} (stop the deploys and builds that use it, cut its network egress).",
        f"Remove {subject} or pin it to the last known-good version, and rebuild from clean images."
        if f["package"]
        else f"Rebuild {subject} from a known-good image; do not clean it in place.",
    ]
    generic = [
        "Rotate every credential the affected build or host could read.",
        "Preserve evidence (disk snapshots, audit and access logs) and look for what it reached.",
        "Page the security owner and keep a timeline of what was done.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = [
        "Pin dependencies by hash and install from a reviewed lockfile only.",
        "Give builds and hosts only the credentials they need, scoped and short-lived.",
    ]
    return f"Emergency response: {subject} may be compromised; isolate it now.", plan, prevention, None


def _patch(s: Situation, f: dict[str, str | None]) -> Handling:
    advisory = f" ({f['advisory']})" if f["advisory"] else ""
    if f["package"]:
        target = f" to {f['fixed_version']}" if f["fixed_version"] else " to the first fixed version"
        change = f"Upgrade {f['package']}{' ' + f['version'] if f['version'] else ''}{target}{advisory}"
        template = "bump-dependency"
    else:
        at = f" at {f['location']}" if f["location"] else ""
        change, template = f"Fix the flagged code{at}{advisory}", None
    specific = [f"{change} in a pull request{' on ' + f['repository'] if f['repository'] else ''}."]
    generic = [
        "Run the test suite and a fresh scan on the branch; the alert must close on merge.",
        "Deploy within 72 h; until then, check whether the vulnerable path is reachable and block it if it is.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = [
        "Let a dependency bot open upgrade pull requests weekly, so patches are small.",
        "Fail CI on new high-severity findings.",
    ]
    return f"Security patch within 72 h: {change}.", plan, prevention, template


def _schedule(s: Situation, f: dict[str, str | None]) -> Handling:
    advisory = f" ({f['advisory']})" if f["advisory"] else ""
    if f["package"]:
        what, template = f"update {f['package']}{advisory}", "bump-dependency"
    else:
        what, template = f"review and fix '{f['location'] or s.title}'{advisory}", None
    specific = [f"Open a ticket to {what} in the next maintenance window (within 30 days)."]
    generic = [
        "Note whether the affected code or endpoint is reachable from outside; make it a patch if it is.",
        "Bundle it with other pending updates of the same component.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Review medium findings in a fixed weekly slot so they do not pile up."]
    return f"Scheduled security update within 30 days: {what}.", plan, prevention, template


def _monitor(s: Situation, f: dict[str, str | None]) -> Handling:
    subject = f["package"] or f["location"] or s.title
    # Nothing to do now is the specific answer here; the playbook stays named in the evidence for later.
    plan = [
        f"Keep {subject} on record; no change needed now.",
        "Watch for an exploit becoming available or the severity being raised; either makes it a patch.",
    ]
    prevention = ["Keep the dependency inventory current so a later advisory is matched at once."]
    return f"Log and monitor: {subject} is low risk for now.", plan, prevention, None


_HANDLERS = {
    "emergency_response": _emergency,
    "security_patch": _patch,
    "scheduled_security_update": _schedule,
    "log_and_monitor": _monitor,
}
