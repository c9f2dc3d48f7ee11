"""Reading npm audit reports: npm 7+ (`vulnerabilities`), npm 6 (`advisories`) and generic findings.

Each format becomes the same list of `Package`, one per vulnerable package with its advisories,
so the events are built once whatever the report's format. Nothing here decides severity or
status beyond picking a package's worst raw severity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import Severity
from liberation_guardian.sources._fields import as_list, as_object, first_text, text

Payload = Mapping[str, Any]

SEVERITIES: dict[str, Severity] = {
    "critical": Severity.critical,
    "high": Severity.high,
    "moderate": Severity.medium,
    "medium": Severity.medium,
    "low": Severity.low,
    "info": Severity.info,
}
NONE = "none"


@dataclass
class Package:
    """One vulnerable package as the report describes it, whatever the report's format."""

    name: str
    raw_severity: str = ""
    versions: list[str] = field(default_factory=list)
    advisories: list[dict[str, Any]] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    direct: bool | None = None
    vulnerable_range: str | None = None
    fix: str | None = None


def packages_from_v2(vulnerabilities: Payload) -> list[Package]:
    """Packages of an npm 7+ report: `via` holds advisory objects or names of vulnerable dependencies."""
    packages = []
    for name, entry in vulnerabilities.items():
        if not isinstance(entry, dict):
            raise PayloadInvalid(f"vulnerabilities[{name!r}] is not a JSON object")
        package = Package(
            name=text(entry.get("name")) or name,
            raw_severity=text(entry.get("severity")) or "",
            effects=_strings(entry.get("effects")),
            direct=entry.get("isDirect") if isinstance(entry.get("isDirect"), bool) else None,
            vulnerable_range=text(entry.get("range")),
            fix=_v2_fix(entry.get("fixAvailable")),
        )
        for via in as_list(entry.get("via")):
            if isinstance(via, str):
                package.via.append(via)
            elif isinstance(via, dict):
                package.advisories.append(
                    _advisory(
                        id=via.get("source"),
                        title=via.get("title"),
                        url=via.get("url"),
                        severity=via.get("severity"),
                        cwe=_strings(via.get("cwe")),
                        range=via.get("range"),
                        cvss=as_object(via.get("cvss")).get("score"),
                    )
                )
        packages.append(package)
    return packages


def packages_from_v1(advisories: Payload) -> list[Package]:
    """Packages of an npm 6 report: advisories keyed by id, several of them per `module_name`."""
    by_name: dict[str, Package] = {}
    for key, advisory in advisories.items():
        if not isinstance(advisory, dict):
            raise PayloadInvalid(f"advisories[{key!r}] is not a JSON object")
        name = text(advisory.get("module_name"))
        if name is None:
            raise PayloadInvalid(f"advisories[{key!r}] has no module_name")
        package = by_name.setdefault(name, Package(name=name))
        findings = [item for item in as_list(advisory.get("findings")) if isinstance(item, dict)]
        _add_versions(package, [item.get("version") for item in findings])
        paths = [path for item in findings for path in _strings(item.get("paths"))]
        if paths:
            package.direct = bool(package.direct) or any(">" not in path for path in paths)
        package.raw_severity = _worse(package.raw_severity, text(advisory.get("severity")) or "")
        package.fix = first_text(advisory.get("recommendation"), package.fix)
        package.vulnerable_range = first_text(package.vulnerable_range, advisory.get("vulnerable_versions"))
        package.advisories.append(
            _advisory(
                id=advisory.get("id", key),
                title=advisory.get("title"),
                url=advisory.get("url"),
                severity=advisory.get("severity"),
                cve=_strings(advisory.get("cves")),
                cwe=_strings(advisory.get("cwe")),
                range=advisory.get("vulnerable_versions"),
                fixed_in=advisory.get("patched_versions"),
            )
        )
    return list(by_name.values())


def packages_from_findings(findings: list[Any]) -> list[Package]:
    """Packages of a generic report: one finding per advisory, grouped by `package`."""
    by_name: dict[str, Package] = {}
    for index, finding in enumerate(findings):
        if not isinstance(finding, dict):
            raise PayloadInvalid(f"findings[{index}] is not a JSON object")
        name = first_text(finding.get("package"), finding.get("name"))
        if name is None:
            raise PayloadInvalid(f"findings[{index}] has no package")
        package = by_name.setdefault(name, Package(name=name))
        _add_versions(package, [finding.get("version")])
        package.raw_severity = _worse(package.raw_severity, text(finding.get("severity")) or "")
        fixed_in = first_text(finding.get("fixed_in"), *as_list(finding.get("fixed_in")))
        package.advisories.append(
            _advisory(
                id=finding.get("id"),
                title=finding.get("title"),
                url=finding.get("url"),
                severity=finding.get("severity"),
                fixed_in=fixed_in,
            )
        )
    for package in by_name.values():
        fixed = sorted({advisory["fixed_in"] for advisory in package.advisories if "fixed_in" in advisory})
        if fixed:
            package.fix = f"upgrade to {fixed[0]}" if len(fixed) == 1 else f"upgrade (fixed in {', '.join(fixed)})"
    return list(by_name.values())


def _v2_fix(value: object) -> str | None:
    """`fixAvailable` in words: true, false, or the top-level package upgrade that fixes it."""
    if value is True:
        return "available through npm audit fix"
    if value is False:
        return "none available"
    if isinstance(value, dict) and (name := text(value.get("name"))):
        version = text(value.get("version"))
        major = " (a semver-major change)" if value.get("isSemVerMajor") is True else ""
        return f"upgrade {name}" + (f" to {version}" if version else "") + major
    return None


def _advisory(**values: object) -> dict[str, Any]:
    """An advisory for `extra`: its strings, lists of strings and finite numbers only."""
    kept: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str) and value:
            kept[key] = value
        elif isinstance(value, int) and abs(value) < 2**63:
            kept[key] = value
        elif isinstance(value, float) and math.isfinite(value):
            kept[key] = value
        elif isinstance(value, list) and value:
            kept[key] = value
    return kept


def _worse(current: str, candidate: str) -> str:
    """The more severe of two raw severities; `none` only wins over nothing."""

    def rank(raw: str) -> int:
        raw = raw.strip().lower()
        if raw in SEVERITIES:
            return SEVERITIES[raw].rank + 2
        return 0 if raw in ("", NONE) else Severity.medium.rank + 2

    if not current or (rank(candidate) > rank(current)):
        return candidate
    return current


def _add_versions(package: Package, versions: list[Any]) -> None:
    """Add the installed versions not yet listed, in order."""
    for version in versions:
        if (value := text(version)) and value not in package.versions:
            package.versions.append(value)


def _strings(value: object) -> list[str]:
    """A string as a one-item list, a list's strings as they are, anything else as []."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [item for item in as_list(value) if isinstance(item, str) and item.strip()]
