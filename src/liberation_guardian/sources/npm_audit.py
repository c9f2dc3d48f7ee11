"""npm audit reports posted by a CI step: one event per vulnerable package, plus one per report.

Body: the wrapping object `{"repository": "acme/web", "branch": "main", "commit": "...",
"url": "<CI run>", "report": <report>}`. Repository and branch sit inside the body so that the
signature covers them. `<report>` is one of:

- the output of `npm audit --json` from npm 7 and later (`auditReportVersion` 2,
  `vulnerabilities` keyed by package name);
- the output of npm 6 (`auditReportVersion` 1 or no version, `advisories` keyed by advisory id);
- a generic list of findings, `{"findings": [...]}` or the bare list, each with `package`,
  `version`, `severity`, `id`, `title`, `fixed_in` and optionally `url`;
- npm's own failure output, `{"error": {"code", "summary", "detail"}}`.

A report posted without the wrapper is accepted too, filed under `default_repository`.

Event kinds: `vulnerability` (one per package; several advisories for one package are one
event at their highest severity), `audit_report` (one info summary per report, resolved) and
`audit_error` (npm audit itself failed: low, firing; the next good report resolves it).

Resolution: a report lists what is vulnerable, not what stopped being vulnerable, so a package
missing from a later report cannot be told apart from one the report left out (`--omit=dev`, a
different workspace). Only a package the report lists with severity `none` is resolved.

Signature (either or both, whichever secrets are configured; both configured means both needed):

- `webhook_secret_env`: hex HMAC-SHA256 of the raw body in `signature_header` (default
  `X-Signature-256`), with or without a `sha256=` prefix;
- `token_env`: the token in `token_header` (default `X-Guardian-Token`; `Bearer ` is accepted
  in front of it, for `token_header: Authorization`).

Severity:

| report severity   | Severity | Status   |
|-------------------|----------|----------|
| critical          | critical | firing   |
| high              | high     | firing   |
| moderate, medium  | medium   | firing   |
| low               | low      | firing   |
| info              | info     | firing   |
| none              | info     | resolved |
| missing or other  | medium   | firing   |

Grouping key: `npm_audit:<repository>:<package>`; the summary and error events use
`npm_audit:<repository>`.

Vendor docs: https://docs.npmjs.com/cli/commands/npm-audit (there is no webhook; the CI step posts).
Fixtures: tests/sources/payloads/npm_audit/*.json

This module authenticates and builds events; `_npm_audit_reports` reads each report format
into the same list of packages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import as_object, first_text, http_link, text
from liberation_guardian.sources._npm_audit_reports import (
    NONE,
    SEVERITIES,
    Package,
    Payload,
    packages_from_findings,
    packages_from_v1,
    packages_from_v2,
)
from liberation_guardian.sources._signatures import hmac_hex, require_hmac, require_token
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

_COUNT_ORDER = ("critical", "high", "moderate", "low", "info")
_MAX_ADVISORIES = 20  # kept per package in `extra`; a report can list hundreds for one package


class NpmAuditConfig(SourceConfig):
    """Keys accepted under `integrations.code_quality.npm_audit`."""

    signature_header: str = Field(
        default="X-Signature-256", min_length=1, description="Header carrying the hex HMAC-SHA256 of the body."
    )
    token_env: str | None = Field(
        default=None, description="Variable holding a shared token the CI step sends in token_header."
    )
    token_header: str = Field(default="X-Guardian-Token", min_length=1, description="Header carrying the token.")
    default_repository: str = Field(
        default="unknown", min_length=1, description="Repository for reports posted without the wrapping object."
    )


@dataclass
class _Context:
    """Where a report comes from: repository, branch, commit and CI run link."""

    repository: str
    branch: str | None = None
    commit: str | None = None
    link: Link | None = None


class NpmAuditSource(Source):
    """`npm audit --json` reports (and generic vulnerability lists) posted from CI."""

    name: ClassVar[str] = "npm_audit"
    group: ClassVar[str] = "code_quality"
    config_model: ClassVar[type[SourceConfig]] = NpmAuditConfig
    auth_scheme: ClassVar[str] = "HMAC-SHA256 hex in X-Signature-256 and/or a token in X-Guardian-Token (configurable)"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        """Keep the typed settings; any config model but NpmAuditConfig is a wiring mistake."""
        if not isinstance(config, NpmAuditConfig):
            raise TypeError(f"NpmAuditSource needs an NpmAuditConfig, got {type(config).__name__}")
        super().__init__(config, secrets)
        self.settings = config

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the HMAC signature and/or the token, whichever secrets are configured."""
        settings = self.settings
        if self.secret is not None:
            signature = (headers.get(settings.signature_header.lower()) or "").strip()
            if signature.lower().startswith("sha256="):
                signature = signature[len("sha256=") :]
            require_hmac(self.secret, body, signature, header=settings.signature_header)
        token = self.secrets.get("token")
        if token is not None:
            given = (headers.get(settings.token_header.lower()) or "").strip()
            if given.lower().startswith("bearer "):
                given = given[len("bearer ") :]
            require_token(token, given, header=settings.token_header)

    def sign(self, body: bytes) -> dict[str, str]:
        """The headers the documented CI step adds: the signature and/or the token."""
        headers: dict[str, str] = {}
        if self.secret is not None:
            headers[self.settings.signature_header] = "sha256=" + hmac_hex(self.secret, body)
        if (token := self.secrets.get("token")) is not None:
            headers[self.settings.token_header] = token
        return headers

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one report into a summary event and one event per vulnerable package."""
        payload = load_json_object(body)
        context, report = self._unwrap(payload)
        error = report.get("error")
        if isinstance(error, dict):
            return [_error_event(error, context)]
        if isinstance(report.get("vulnerabilities"), dict):
            packages, report_format = packages_from_v2(report["vulnerabilities"]), "npm-v2"
        elif isinstance(report.get("advisories"), dict):
            packages, report_format = packages_from_v1(report["advisories"]), "npm-v1"
        elif isinstance(report.get("findings"), list):
            packages, report_format = packages_from_findings(report["findings"]), "findings"
        else:
            raise PayloadInvalid(
                "not an npm audit report: no `vulnerabilities` object (npm 7+), `advisories` object (npm 6), "
                "`findings` list or `error` object, at the top level or under `report`"
            )
        summary = _summary_event(packages, report, report_format, context)
        return [summary, *(_package_event(package, context) for package in packages)]

    def _unwrap(self, payload: Payload) -> tuple[_Context, Payload]:
        """The report's origin and the report itself, from the wrapping object or a bare report."""
        if "report" not in payload:
            return _Context(self.settings.default_repository), payload
        report = payload["report"]
        if isinstance(report, list):
            report = {"findings": report}
        if not isinstance(report, dict):
            raise PayloadInvalid("`report` is neither an npm audit report object nor a list of findings")
        context = _Context(
            repository=(text(payload.get("repository")) or self.settings.default_repository).strip(),
            branch=text(payload.get("branch")),
            commit=text(payload.get("commit")),
            link=http_link("CI run", payload.get("url")),
        )
        return context, report


def _package_event(package: Package, context: _Context) -> NormalizedEvent:
    raw = package.raw_severity.strip().lower()
    resolved = raw == NONE
    titles = [advisory["title"] for advisory in package.advisories if advisory.get("title")]
    if resolved:
        title = f"{package.name}: no longer vulnerable"
    elif titles:
        title = f"{package.name}: {titles[0]}" + (f" (and {len(titles) - 1} more)" if len(titles) > 1 else "")
    elif package.via:
        title = f"{package.name}: vulnerable through {', '.join(package.via[:3])}"
    else:
        title = f"{package.name}: {raw or 'unrated'} vulnerability"
    lines = [f"Severity: {raw or 'not given'}."]
    for label, value in (
        ("Installed", ", ".join(package.versions)),
        ("Vulnerable range", package.vulnerable_range),
        ("Through", ", ".join(package.via)),
        ("Affects", ", ".join(package.effects)),
        ("Fix", package.fix),
    ):
        if value:
            lines.append(f"{label}: {value.rstrip('.')}.")
    labels = {"repository": context.repository, "package": package.name, "npm_severity": raw}
    if context.branch:
        labels["branch"] = context.branch
    if package.direct is not None:
        labels["direct"] = "true" if package.direct else "false"
    return NormalizedEvent(
        source=NpmAuditSource.name,
        kind="vulnerability",
        status=Status.resolved if resolved else Status.firing,
        severity=Severity.info if resolved else SEVERITIES.get(raw, Severity.medium),
        title=title,
        message=" ".join(lines),
        service=context.repository,
        grouping_key=f"npm_audit:{context.repository}:{package.name}",
        labels={key: value for key, value in labels.items() if value},
        links=_links(context, package),
        extra={
            "advisories": package.advisories[:_MAX_ADVISORIES],
            "versions": package.versions,
            "via": package.via,
            "effects": package.effects,
            **({"commit": context.commit} if context.commit else {}),
        },
    )


def _summary_event(packages: list[Package], report: Payload, report_format: str, context: _Context) -> NormalizedEvent:
    # Counted per package here: npm 6's own metadata counts advisories, which would not match the events.
    counts: dict[str, int] = {}
    for package in packages:
        raw = package.raw_severity.strip().lower() or "unrated"
        if raw != NONE:
            counts[raw] = counts.get(raw, 0) + 1
    vulnerable = sum(counts.values())
    where = context.repository + (f" ({context.branch})" if context.branch else "")
    shown = ", ".join(f"{counts[key]} {key}" for key in (*_COUNT_ORDER, "unrated") if counts.get(key))
    if vulnerable:
        title = f"npm audit of {where}: {vulnerable} vulnerable package{'s' if vulnerable != 1 else ''}"
        title += f" ({shown})" if shown else ""
    else:
        title = f"npm audit of {where}: no vulnerabilities found"
    return NormalizedEvent(
        source=NpmAuditSource.name,
        kind="audit_report",
        status=Status.resolved,
        severity=Severity.info,
        title=title,
        message=f"Report format {report_format}; {len(packages)} package(s) listed.",
        service=context.repository,
        grouping_key=f"npm_audit:{context.repository}",
        labels=_context_labels(context),
        links=[context.link] if context.link else [],
        extra={
            "format": report_format,
            "counts": counts,
            "npm_counts": _metadata_counts(report),
            **({"commit": context.commit} if context.commit else {}),
        },
    )


def _error_event(error: Payload, context: _Context) -> NormalizedEvent:
    code = text(error.get("code"))
    summary = first_text(error.get("summary"), error.get("message"))
    reason = ": ".join(part for part in (code, summary) if part) or "no reason given"
    return NormalizedEvent(
        source=NpmAuditSource.name,
        kind="audit_error",
        status=Status.firing,
        severity=Severity.low,
        title=f"npm audit could not run for {context.repository}: {reason}",
        message=text(error.get("detail")) or "",
        service=context.repository,
        grouping_key=f"npm_audit:{context.repository}",
        labels=_context_labels(context),
        links=[context.link] if context.link else [],
        extra={"code": code} if code else {},
    )


def _metadata_counts(report: Payload) -> dict[str, int]:
    """npm's own `metadata.vulnerabilities` counts by severity (per advisory in npm 6, per package after)."""
    counts = as_object(as_object(report.get("metadata")).get("vulnerabilities"))
    return {key: value for key, value in counts.items() if key in _COUNT_ORDER and _is_count(value)}


def _links(context: _Context, package: Package) -> list[Link]:
    links: list[Link] = []
    for advisory in package.advisories:
        link = http_link(f"Advisory {advisory.get('id', '')}".strip(), advisory.get("url"))
        if link is not None and all(existing.url != link.url for existing in links):
            links.append(link)
    links = links[:5]
    return [*links, context.link] if context.link else links


def _context_labels(context: _Context) -> dict[str, str]:
    labels = {"repository": context.repository}
    if context.branch:
        labels["branch"] = context.branch
    return labels


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
