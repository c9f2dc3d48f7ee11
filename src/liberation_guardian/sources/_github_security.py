"""GitHub security alerts: Dependabot, code scanning, secret scanning, and GitHub-wide advisories.

An alert fires while it is open and resolves when it is fixed, dismissed or closed; the
severity table is in the `github` module's docstring. A secret scanning alert carries the
leaked secret itself, which never reaches an event (see `redact_secret_scanning`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from liberation_guardian.events import NormalizedEvent, Severity, StackFrame, Status
from liberation_guardian.sources._fields import as_list, as_object, first_text, identifier, parse_time, text
from liberation_guardian.sources._fields import json_scalars as _scalars
from liberation_guardian.sources._fields import label_strings as _labels
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._github_delivery import SOURCE, Delivery, Payload, first_object

_ADVISORY_SEVERITY = {
    "critical": Severity.critical,
    "high": Severity.high,
    "moderate": Severity.medium,
    "medium": Severity.medium,
    "low": Severity.low,
}


_RULE_SEVERITY = {"error": Severity.high, "warning": Severity.medium, "note": Severity.low, "none": Severity.info}


_OPEN_STATES = frozenset({"open"})


def _alert_status(action: str, state: object, firing: frozenset[str], resolved: frozenset[str]) -> Status:
    """Firing or resolved from the alert's action, else from its state; open unless told otherwise."""
    if action in firing:
        return Status.firing
    if action in resolved:
        return Status.resolved
    word = (text(state) or "").strip().lower()
    return Status.resolved if word and word not in _OPEN_STATES else Status.firing


def dependabot_alert(d: Delivery) -> NormalizedEvent:
    """A vulnerable dependency alert, with the advisory's severity while open."""
    alert = d.section("alert")
    advisory, vulnerability = as_object(alert.get("security_advisory")), as_object(alert.get("security_vulnerability"))
    dependency = as_object(alert.get("dependency"))
    package = as_object(vulnerability.get("package")) or as_object(dependency.get("package"))
    name, ecosystem = text(package.get("name")), text(package.get("ecosystem"))
    number, ghsa, cve = identifier(alert.get("number")), text(advisory.get("ghsa_id")), text(advisory.get("cve_id"))
    summary = text(advisory.get("summary"))
    level = first_text(advisory.get("severity"), vulnerability.get("severity"))
    status = _alert_status(
        d.action,
        alert.get("state"),
        frozenset({"created", "reopened", "auto_reopened", "reintroduced"}),
        frozenset({"fixed", "dismissed", "auto_dismissed"}),
    )
    affected = text(vulnerability.get("vulnerable_version_range"))
    patched = text(as_object(vulnerability.get("first_patched_version")).get("identifier"))
    ids = " / ".join(i for i in (ghsa, cve) if i) or "advisory"
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=status,
        severity=_ADVISORY_SEVERITY.get((level or "").lower(), Severity.medium)
        if status is Status.firing
        else Severity.info,
        title=f"Vulnerable dependency {name or 'package'}"
        + (f" ({ecosystem})" if ecosystem else "")
        + f" in {d.repo or 'a repository'}"
        + (f": {summary}" if summary else ""),
        message=f"{ids}: versions {affected or '(range not given)'} are affected; "
        + (f"patched in {patched}." if patched else "no patched version yet."),
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:dependabot:{number or ghsa or name or 'unknown'}",
        labels=_labels(
            package=name,
            ecosystem=ecosystem,
            vulnerable_version_range=affected,
            patched_version=patched,
            ghsa_id=ghsa,
            cve_id=cve,
            advisory_severity=level,
            manifest_path=dependency.get("manifest_path"),
            scope=dependency.get("scope"),
            state=alert.get("state"),
            alert_number=number,
        ),
        links=_links(("Dependabot alert", alert.get("html_url"))),
        occurred_at=_latest(alert, "fixed_at", "auto_dismissed_at", "dismissed_at", "updated_at", "created_at"),
        extra=_scalars(summary=summary, cvss_score=as_object(advisory.get("cvss")).get("score")),
    )


def code_scanning_alert(d: Delivery) -> NormalizedEvent:
    """A code scanning alert, located at the file and line of its latest instance."""
    alert = d.section("alert")
    rule, tool = as_object(alert.get("rule")), as_object(alert.get("tool"))
    instance = as_object(alert.get("most_recent_instance")) or first_object(alert.get("instances"))
    location = as_object(instance.get("location"))
    number = identifier(alert.get("number"))
    status = _alert_status(
        d.action,
        alert.get("state"),
        frozenset({"created", "reopened", "reopened_by_user", "appeared_in_branch"}),
        frozenset({"fixed", "closed_by_user"}),
    )
    level = (text(rule.get("security_severity_level")) or "").lower()
    rule_level = (text(rule.get("severity")) or "").lower()
    severity = _ADVISORY_SEVERITY.get(level) or _RULE_SEVERITY.get(rule_level, Severity.medium)
    path, line = text(location.get("path")), location.get("start_line")
    frames = [StackFrame(filename=path, lineno=line if _small_int(line) else None, in_app=True)] if path else []
    ref = first_text(d.payload.get("ref"), instance.get("ref"))
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=status,
        severity=severity if status is Status.firing else Severity.info,
        title=f"Code scanning security alert in {d.repo or 'a repository'}: "
        + (first_text(rule.get("description"), rule.get("name"), rule.get("id")) or "unnamed rule"),
        message=first_text(rule.get("full_description"), as_object(instance.get("message")).get("text")) or "",
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:code_scanning:{number or rule.get('id') or 'unknown'}",
        labels=_labels(
            rule_id=rule.get("id"),
            rule_severity=rule_level,
            security_severity_level=level,
            tool=tool.get("name"),
            branch=_branch(ref),
            commit=first_text(d.payload.get("commit_oid"), instance.get("commit_sha")),
            location=f"{path}:{line}" if path and _small_int(line) else path,
            state=alert.get("state"),
            alert_number=number,
        ),
        stack_frames=frames,
        links=_links(("Code scanning alert", alert.get("html_url"))),
        occurred_at=_latest(alert, "fixed_at", "dismissed_at", "updated_at", "created_at"),
    )


def secret_scanning_alert(d: Delivery) -> NormalizedEvent:
    """A leaked secret alert: critical while open; the secret is never copied."""
    alert = d.section("alert")
    number = identifier(alert.get("number"))
    status = _alert_status(
        d.action,
        alert.get("state") or ("resolved" if text(alert.get("resolution")) else None),
        frozenset({"created", "reopened", "publicly_leaked"}),
        frozenset({"resolved"}),
    )
    kind = first_text(alert.get("secret_type_display_name"), alert.get("secret_type")) or "secret"
    # The secret itself (`alert.secret`) is never copied into the event; `leaked_secrets` has it redacted.
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=status,
        severity=Severity.critical if status is Status.firing else Severity.info,
        title=f"Leaked secret in {d.repo or 'a repository'}: {kind} (secret scanning alert #{number or '?'})",
        message=f"A {kind} was found in the repository; revoke and rotate it."
        if status is Status.firing
        else f"Secret scanning alert resolved ({text(alert.get('resolution')) or 'no reason given'}).",
        service=d.repo,
        grouping_key=f"github:{d.repo or 'unknown'}:secret_scanning:{number or 'unknown'}",
        labels=_labels(
            secret_type=alert.get("secret_type"),
            resolution=alert.get("resolution"),
            validity=alert.get("validity"),
            publicly_leaked=alert.get("publicly_leaked"),
            push_protection_bypassed=alert.get("push_protection_bypassed"),
            alert_number=number,
        ),
        links=_links(("Secret scanning alert", alert.get("html_url"))),
        occurred_at=_latest(alert, "resolved_at", "updated_at", "created_at"),
    )


def security_advisory(d: Delivery) -> NormalizedEvent:
    """A GitHub-wide advisory, kept as a record."""
    advisory = d.section("security_advisory")
    ghsa, summary = text(advisory.get("ghsa_id")), text(advisory.get("summary"))
    packages = []
    for item in as_list(advisory.get("vulnerabilities")):
        package = as_object(as_object(item).get("package"))
        if name := text(package.get("name")):
            packages.append(f"{text(package.get('ecosystem')) or '?'}:{name}")
    references = as_list(advisory.get("references"))
    return NormalizedEvent(
        source=SOURCE,
        kind=d.event,
        status=Status.resolved,
        severity=Severity.info,
        title=f"Security advisory{' ' + ghsa if ghsa else ''} {d.action or 'received'}: {summary or 'no summary'}",
        message=text(advisory.get("description")) or "",
        grouping_key=f"github:advisory:{ghsa}" if ghsa else None,
        labels=_labels(
            ghsa_id=ghsa, cve_id=advisory.get("cve_id"), severity=advisory.get("severity"), packages=",".join(packages)
        ),
        links=_links(
            ("Advisory", advisory.get("html_url")),
            *(("Reference", as_object(ref).get("url")) for ref in references[:3]),
        ),
        occurred_at=_latest(advisory, "withdrawn_at", "updated_at", "published_at"),
    )


def _small_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31


def _branch(ref: str | None) -> str | None:
    return ref.removeprefix("refs/heads/") if ref else None


def _latest(item: Payload, *keys: str) -> datetime | None:
    """The first of `keys` that holds a time (callers list the most recent kind of time first)."""
    for key in keys:
        if found := parse_time(item.get(key)):
            return found
    return None


def leaked_secrets(payload: Any) -> list[str]:
    """The leaked secret a secret scanning alert carries in `alert.secret`, when it does."""
    alert = payload.get("alert") if isinstance(payload, dict) else None
    secret = alert.get("secret") if isinstance(alert, dict) else None
    return [secret] if isinstance(secret, str) else []
