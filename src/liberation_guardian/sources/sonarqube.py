"""SonarQube and SonarCloud project-analysis webhooks: one event per finished analysis.

Event kinds: `analysis`, sent when a project analysis (a Compute Engine task) finishes, and
again when an issue change flips the quality gate. The payload carries the task `status`, the
`project`, the `branch` (Developer Edition and up, and SonarCloud) and the evaluated
`qualityGate` with its `conditions`.

Signature: when the webhook has a secret, `X-Sonar-Webhook-HMAC-SHA256` is the hex
HMAC-SHA256 of the raw body keyed with it (no prefix). SonarQube sends no timestamp, so there
is no replay window to check. `X-SonarQube-Project` names the project key.

Severity and status:

| Payload                                         | Severity | Status   |
|-------------------------------------------------|----------|----------|
| task `status` FAILED                            | medium   | firing   |
| quality gate ERROR on the main branch           | high     | firing   |
| quality gate ERROR on another branch or a PR    | medium   | firing   |
| quality gate WARN (SonarQube before 7.6)        | low      | firing   |
| quality gate OK, or no quality gate evaluated   | info     | resolved |

The main branch is `branch.isMain`, or any analysis without a `branch` object (editions
without branch analysis only analyse the main branch).

Grouping key: `sonarqube:<project key>:<branch name>` (`pr-<id>` for pull requests, `main` when
the payload names no branch), so an OK analysis resolves the failure of the same branch.

Vendor docs: https://docs.sonarsource.com/sonarqube-server/latest/project-administration/webhooks/
Fixtures: sonarqube/analysis-quality-gate-ok.json, and tests/sources/payloads/sonarqube/*.json
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, string_map, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import hmac_hex, require_hmac
from liberation_guardian.sources.base import Headers, Source, load_json_object

SIGNATURE_HEADER = "X-Sonar-Webhook-HMAC-SHA256"
_OPERATORS = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUALS": "=", "NOT_EQUALS": "!="}
# Keys only a SonarQube analysis payload has next to `project`; one must be present.
_ANALYSIS_KEYS = ("qualityGate", "taskId", "analysedAt", "changedAt", "serverUrl")
# A title naming more failed conditions than this gets unreadable; the message lists them all.
_TITLE_CONDITIONS = 3

Payload = Mapping[str, Any]


class SonarQubeSource(Source):
    """SonarQube Server and SonarQube Cloud project-analysis webhooks."""

    name: ClassVar[str] = "sonarqube"
    group: ClassVar[str] = "code_quality"
    aliases: ClassVar[tuple[str, ...]] = ("sonarcloud",)
    auth_scheme: ClassVar[str] = f"HMAC-SHA256 hex in {SIGNATURE_HEADER}"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check `X-Sonar-Webhook-HMAC-SHA256` against the raw body when a secret is configured."""
        if self.secret is None:
            return
        require_hmac(self.secret, body, headers.get(SIGNATURE_HEADER.lower()), header=SIGNATURE_HEADER)

    def sign(self, body: bytes) -> dict[str, str]:
        """The signature header SonarQube adds for `body` when the webhook has this secret."""
        return {} if self.secret is None else {SIGNATURE_HEADER: hmac_hex(self.secret, body)}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one analysis payload into one event."""
        payload = load_json_object(body)
        project = payload.get("project")
        if not isinstance(project, dict):
            raise PayloadInvalid("not a SonarQube payload: no `project` object")
        if not any(key in payload for key in _ANALYSIS_KEYS):
            raise PayloadInvalid("not a SonarQube payload: none of " + ", ".join(_ANALYSIS_KEYS))
        key = first_text(project.get("key"), headers.get("x-sonarqube-project"))
        if key is None:
            raise PayloadInvalid("SonarQube payload has no project.key and no X-SonarQube-Project header")
        return [_analysis_event(payload, project, key.strip())]


def _analysis_event(payload: Payload, project: Payload, key: str) -> NormalizedEvent:
    branch = _object(payload.get("branch"))
    gate = _object(payload.get("qualityGate"))
    conditions = [item for item in _list(gate.get("conditions")) if isinstance(item, dict)]
    task_status = (text(payload.get("status")) or "SUCCESS").strip().upper()
    gate_status = (text(gate.get("status")) or "").strip().upper()
    is_main = branch.get("isMain") is True or not branch
    is_pull_request = (text(branch.get("type")) or "").upper() == "PULL_REQUEST"
    branch_name = text(branch.get("name"))
    where = _where(branch_name, is_main=is_main, is_pull_request=is_pull_request)
    project_name = first_text(project.get("name"), key) or key
    failed = [c for c in conditions if (text(c.get("status")) or "").upper() in ("ERROR", "WARN")]

    if task_status == "FAILED":
        severity, status = Severity.medium, Status.firing
        title = f"SonarQube analysis of {project_name} ({where}) failed"
    elif gate_status in ("ERROR", "WARN"):
        status = Status.firing
        if gate_status == "WARN":
            severity = Severity.low
        else:
            severity = Severity.high if is_main and not is_pull_request else Severity.medium
        verb = "failed" if gate_status == "ERROR" else "warns"
        title = f"SonarQube quality gate {verb} on {project_name} ({where})"
        if failed:
            shown = ", ".join(_condition_text(c) for c in failed[:_TITLE_CONDITIONS])
            more = len(failed) - _TITLE_CONDITIONS
            title += f": {shown}" + (f" and {more} more" if more > 0 else "")
    else:
        severity, status = Severity.info, Status.resolved
        passed = "passed" if gate_status == "OK" else "finished"
        title = f"SonarQube quality gate {passed} on {project_name} ({where})"

    branch_part = f"pr-{branch_name}" if is_pull_request and branch_name else branch_name or "main"
    labels = {
        "project_key": key,
        "branch": branch_name or "main",
        "branch_type": text(branch.get("type")) or "",
        "quality_gate_status": gate_status,
        "task_status": task_status,
        **string_map(payload.get("properties")),
    }
    return NormalizedEvent(
        source=SonarQubeSource.name,
        kind="analysis",
        status=status,
        severity=severity,
        title=title,
        message="\n".join(_condition_line(c) for c in conditions),
        service=project_name,
        grouping_key=f"sonarqube:{key}:{branch_part}",
        labels={name: value for name, value in labels.items() if value},
        links=_links(
            ("SonarQube branch", branch.get("url")),
            ("SonarQube project", project.get("url")),
            ("SonarQube server", payload.get("serverUrl")),
        ),
        occurred_at=parse_time(payload.get("analysedAt")) or parse_time(payload.get("changedAt")),
        extra=_scalars(
            task_id=payload.get("taskId"),
            revision=payload.get("revision"),
            quality_gate=gate.get("name"),
            failed_conditions=len(failed),
        ),
    )


def _where(name: str | None, *, is_main: bool, is_pull_request: bool) -> str:
    """How a title names the analysed branch: `branch main`, `pull request 42`, or `main branch`."""
    if is_pull_request:
        return f"pull request {name}" if name else "a pull request"
    if name:
        return f"branch {name}"
    return "main branch" if is_main else "a branch"


def _condition_text(condition: Payload) -> str:
    """`new_coverage 12.5 < 80`: the metric, its value, the operator and the error threshold."""
    metric = text(condition.get("metric")) or "condition"
    value = _number_text(condition.get("value"))
    operator = _OPERATORS.get(text(condition.get("operator")) or "", text(condition.get("operator")) or "?")
    threshold = _number_text(condition.get("errorThreshold"))
    if value is None:
        return f"{metric} {operator} {threshold or '?'}"
    return f"{metric} {value} {operator} {threshold or '?'}"


def _condition_line(condition: Payload) -> str:
    """`ERROR new_coverage = 12.5 (fails when < 80)`: one condition with its outcome, for the message."""
    status = text(condition.get("status")) or "?"
    metric = text(condition.get("metric")) or "condition"
    value = _number_text(condition.get("value")) or "no value"
    operator = _OPERATORS.get(text(condition.get("operator")) or "", text(condition.get("operator")) or "?")
    threshold = _number_text(condition.get("errorThreshold")) or "?"
    return f"{status} {metric} = {value} (fails when {operator} {threshold})"


def _number_text(value: object) -> str | None:
    """A condition value for reading: `89.39828080229226` as `89.4`, `1` as `1`, other text as is."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return text(value)
        if math.isfinite(number):
            return f"{number:.2f}".rstrip("0").rstrip(".")
        return text(value)
    return None


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _scalars(**values: object) -> dict[str, Any]:
    """The given values that are non-empty strings or small integers, for `extra`."""
    return {
        key: value
        for key, value in values.items()
        if (isinstance(value, str) and value)
        or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63)
    }
