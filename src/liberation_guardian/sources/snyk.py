"""Snyk webhooks: one security event per issue a project test found or no longer finds.

Event kinds (from `X-Snyk-Event`, version suffix ignored; sniffed from the body without it):

- `project_snapshot`: sent after every test of a monitored project. Each entry of `newIssues`
  becomes a firing event, each entry of `removedIssues` a resolved one with the same key. A
  snapshot with neither is recorded as one info event (the project was tested, nothing changed).
- `ping`: sent when a webhook is created or pinged; produces no event.

Signature: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the secret
given when the webhook was created. `X-Snyk-Timestamp` is not covered by the signature, so it
is used for `occurred_at` only, never as replay protection.

Severity, from `issueData.severity`:

| Snyk severity        | Severity | Status   |
|----------------------|----------|----------|
| critical             | critical | firing   |
| high                 | high     | firing   |
| medium               | medium   | firing   |
| low                  | low      | firing   |
| missing or other     | medium   | firing   |
| issue `isIgnored`    | info     | resolved |
| entry of removedIssues | info   | resolved |

Grouping key: `snyk:<project id>:<issue id>`, so a removed issue resolves the one that fired.

Vendor docs: https://docs.snyk.io/snyk-api/using-specific-snyk-apis/webhooks-apis/webhooks
(payloads) and .../validation-and-versioning-of-payloads (signature).
Fixtures: snyk/project_snapshot.json, snyk/ping.json, and tests/sources/payloads/snyk/*.json
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, http_link, parse_time, severity_word, text
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources.base import Headers, Source, load_json_object

SIGNATURE_HEADER = "X-Hub-Signature"
_SNAPSHOT, _PING = "project_snapshot", "ping"
_FIX_WAYS = (("isUpgradable", "upgrade"), ("isPinnable", "pin"), ("isPatchable", "patch"))

Payload = Mapping[str, Any]


class SnykSource(Source):
    """Snyk `project_snapshot` and `ping` webhooks."""

    name: ClassVar[str] = "snyk"
    group: ClassVar[str] = "code_quality"
    auth_scheme: ClassVar[str] = f"HMAC-SHA256 hex in {SIGNATURE_HEADER} (sha256=...)"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check `X-Hub-Signature` against the raw body when a webhook secret is configured."""
        if self.secret is None:
            return
        require_hmac(
            self.secret, body, headers.get(SIGNATURE_HEADER.lower()), header=SIGNATURE_HEADER, prefix="sha256="
        )

    def sign(self, body: bytes) -> dict[str, str]:
        """The `X-Hub-Signature` Snyk sends for `body` with this secret."""
        return {} if self.secret is None else {SIGNATURE_HEADER: "sha256=" + hmac_hex(self.secret, body)}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn a project snapshot into one event per new or removed issue; a ping into none."""
        payload = load_json_object(body)
        event = (headers.get("x-snyk-event") or "").strip().lower().partition("/")[0] or _sniff(payload)
        if event == _PING:
            if "webhookId" not in payload:
                raise PayloadInvalid("Snyk ping payload has no webhookId")
            return []
        if event != _SNAPSHOT:
            raise PayloadInvalid(f"unsupported X-Snyk-Event {event!r}")
        return _snapshot(payload, parse_time(headers.get("x-snyk-timestamp")))


def _sniff(payload: Payload) -> str:
    """Name the event a body without `X-Snyk-Event` belongs to."""
    if isinstance(payload.get("project"), dict) and any(
        isinstance(payload.get(key), list) for key in ("newIssues", "removedIssues")
    ):
        return _SNAPSHOT
    if text(payload.get("webhookId")) and len(payload) == 1:
        return _PING
    raise PayloadInvalid(
        "not a Snyk payload: no project object with newIssues or removedIssues (project_snapshot) "
        "and no lone webhookId (ping)"
    )


def _snapshot(payload: Payload, timestamp: datetime | None) -> list[NormalizedEvent]:
    project = payload.get("project")
    if not isinstance(project, dict):
        raise PayloadInvalid("Snyk project_snapshot payload has no `project` object")
    new, removed = _issues(payload, "newIssues"), _issues(payload, "removedIssues")
    if "newIssues" not in payload and "removedIssues" not in payload:
        raise PayloadInvalid("Snyk project_snapshot payload has neither newIssues nor removedIssues")
    context = _Context(payload, project, timestamp or parse_time(project.get("lastTestedDate")))
    events = [context.issue_event(issue, removed=False) for issue in new]
    events += [context.issue_event(issue, removed=True) for issue in removed]
    return events or [context.unchanged_event()]


def _issues(payload: Payload, key: str) -> list[Payload]:
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadInvalid(f"Snyk {key} is not a list")
    for index, issue in enumerate(value):
        if not isinstance(issue, dict):
            raise PayloadInvalid(f"Snyk {key}[{index}] is not a JSON object")
    return value


class _Context:
    """What every event of one snapshot shares: project, organization, time and links."""

    def __init__(self, payload: Payload, project: Payload, occurred: datetime | None) -> None:
        self.project = project
        self.project_id = first_text(project.get("id"), project.get("name")) or "unknown"
        self.service = first_text(project.get("name"), project.get("id"))
        attributes = _object(project.get("attributes"))
        # Snyk's `lifecycle` attribute (production, development, sandbox) is the deployment stage.
        self.environment = first_text(*_list(attributes.get("lifecycle")))
        org = _object(payload.get("org"))
        self.labels = {
            key: value
            for key, value in {
                "project_id": text(project.get("id")),
                "project_type": text(project.get("type")),
                "origin": text(project.get("origin")),
                "org": first_text(org.get("slug"), org.get("name")),
                "criticality": first_text(*_list(attributes.get("criticality"))),
                "branch": text(project.get("branch")),
            }.items()
            if value
        }
        self.project_link = http_link("Snyk project", project.get("browseUrl"))
        self.occurred = occurred

    def issue_event(self, issue: Payload, *, removed: bool) -> NormalizedEvent:
        data = _object(issue.get("issueData"))
        fix = _object(issue.get("fixInfo"))
        issue_id = first_text(issue.get("id"), data.get("id"))
        package = text(issue.get("pkgName"))
        versions = [v for v in _list(issue.get("pkgVersions")) if text(v)]
        found_in = f"{package}@{', '.join(versions)}" if package and versions else package
        name = first_text(data.get("title"), issue_id) or "Snyk issue"
        ignored = issue.get("isIgnored") is True
        if removed or ignored:
            severity, status = Severity.info, Status.resolved
            prefix = "No longer found: " if removed else "Ignored in Snyk: "
        else:
            severity, status, prefix = severity_word(data.get("severity")) or Severity.medium, Status.firing, ""
        title = f"{prefix}{name}" + (f" in {found_in}" if found_in else "")
        identifiers = {
            key.upper(): [str(v) for v in values if isinstance(v, str)]
            for key, values in _object(data.get("identifiers")).items()
            if isinstance(values, list)
        }
        fixed_in = first_text(fix.get("nearestFixedInVersion"), data.get("nearestFixedInVersion"))
        labels = {
            **self.labels,
            "issue_id": issue_id or "",
            "package": package or "",
            "issue_type": text(issue.get("issueType")) or "",
            "snyk_severity": text(data.get("severity")) or "",
        }
        for scheme in ("CVE", "CWE"):
            labels[scheme.lower()] = ",".join(identifiers.get(scheme, []))
        links = [link for link in (http_link("Snyk issue", data.get("url")), self.project_link) if link is not None]
        return NormalizedEvent(
            source=SnykSource.name,
            kind=_SNAPSHOT,
            status=status,
            severity=severity,
            title=title,
            message=_message(data, fixed_in, fix),
            service=self.service,
            environment=self.environment,
            grouping_key=f"snyk:{self.project_id}:{issue_id}" if issue_id else None,
            labels={key: value for key, value in labels.items() if value},
            links=links,
            occurred_at=self.occurred,
            extra={
                "change": "removed" if removed else "new",
                "package_versions": versions,
                "identifiers": identifiers,
                "fix": _fix(fix, fixed_in, issue),
                **_scalars(
                    cvss_score=data.get("cvssScore"),
                    exploit_maturity=data.get("exploitMaturity"),
                    priority_score=_object(issue.get("priority")).get("score"),
                ),
            },
        )

    def unchanged_event(self) -> NormalizedEvent:
        counts = {k: v for k, v in _object(self.project.get("issueCountsBySeverity")).items() if _is_count(v)}
        summary = ", ".join(f"{counts[k]} {k}" for k in ("critical", "high", "medium", "low") if k in counts)
        return NormalizedEvent(
            source=SnykSource.name,
            kind=_SNAPSHOT,
            status=Status.resolved,
            severity=Severity.info,
            title=f"Snyk tested {self.service or self.project_id}: no new or removed issues",
            message=f"Open issues: {summary}" if summary else "",
            service=self.service,
            environment=self.environment,
            grouping_key=f"snyk:{self.project_id}",
            labels=self.labels,
            links=[self.project_link] if self.project_link else [],
            occurred_at=self.occurred,
            extra={"issue_counts": counts},
        )


def _message(data: Payload, fixed_in: str | None, fix: Payload) -> str:
    parts = []
    if vulnerable := [v for v in _list(_object(data.get("semver")).get("vulnerable")) if isinstance(v, str)]:
        parts.append(f"Vulnerable versions: {' || '.join(vulnerable)}.")
    if fixed_in:
        parts.append(f"Fixed in {fixed_in}.")
    ways = [word for key, word in _FIX_WAYS if fix.get(key) is True]
    if ways:
        parts.append(f"Fixable by {' or '.join(ways)}.")
    elif fix:
        parts.append("No fix available yet.")
    return " ".join(parts)


def _fix(fix: Payload, fixed_in: str | None, issue: Payload) -> dict[str, Any]:
    """The fix facts worth keeping: fixable by upgrade, pin or patch, the version, upgrade paths."""
    flags = ("isUpgradable", "isPinnable", "isPatchable", "isFixable")
    found: dict[str, Any] = {key: fix[key] for key in flags if isinstance(fix.get(key), bool)}
    if fixed_in:
        found["nearestFixedInVersion"] = fixed_in
    paths = fix.get("upgradePaths", issue.get("upgradePath"))
    if isinstance(paths, list):
        # Snyk writes an upgrade path as package@version steps, `false` standing for the project itself.
        found["upgradePaths"] = [
            [step for step in path if isinstance(step, str)] for path in paths if isinstance(path, list)
        ]
    if isinstance(issue.get("isPatched"), bool):
        found["isPatched"] = issue["isPatched"]
    return found


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _scalars(**values: object) -> dict[str, Any]:
    """The given values that are non-empty strings or finite, storable numbers, for `extra`."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            continue
        if (isinstance(value, str) and value) or (isinstance(value, int) and abs(value) < 2**63):
            kept[key] = value
        elif isinstance(value, float) and math.isfinite(value):
            kept[key] = value
    return kept
