"""Jenkins build notifications in the JSON format of the Notification plugin (`notification`).

Event kinds: `build.queued`, `build.started`, `build.completed`, `build.finalized` (from the
body's `build.phase`; `build` when it has none), one event per delivery. A completed or
finalized build is judged on its `build.status`; queued and started builds are records.

Signature: Jenkins signs nothing, and the plugin only authenticates with Basic credentials
written into the endpoint URL (`http://jenkins:<secret>@host/...`), which it sends as
`Authorization: Basic`. When `webhook_secret_env` is set the request must carry the secret as
the Basic password, as `Authorization: Bearer <secret>`, or in the header named by
`token_header` (default `X-Guardian-Token`, for senders that set headers, such as a pipeline's
`httpRequest` step). There is no timestamp to check.

| `build.status`            | Severity | Status   | grouping key                         |
|---------------------------|----------|----------|--------------------------------------|
| FAILURE                   | high     | firing   | `jenkins:<job>@<branch>`             |
| UNSTABLE                  | medium   | firing   | same                                 |
| SUCCESS                   | info     | resolved | same, so it resolves the failure     |
| ABORTED, NOT_BUILT        | info     | resolved | same plus `:aborted` / `:not_built`  |
| none (QUEUED, STARTED)    | info     | resolved | same plus `:queued` / `:started`     |

`<job>` is the job's full path taken from its relative `url` (`job/team/job/app/` → `team/app`),
else `name`; `@<branch>` comes from `build.scm.branch` (`origin/` and `refs/heads/` removed),
else the `BRANCH_NAME` or `BRANCH` build parameter, and is left out when none is known. An
aborted, queued or started build says nothing about whether a failure is fixed, so it is kept
apart from the failure's key.

Vendor docs: https://plugins.jenkins.io/notification/ (payload: the plugin's JobState,
BuildState and ScmState, serialized with lower_case_with_underscores field names).
Fixtures: tests/sources/payloads/jenkins/*.json (no shared fixture exists).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from liberation_guardian.errors import PayloadInvalid
from liberation_guardian.events import NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, string_map, text
from liberation_guardian.sources._fields import unique_links as _links
from liberation_guardian.sources._signatures import (
    DEFAULT_TOKEN_HEADER,
    TokenHeaderConfig,
    require_token_or_authorization,
)
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json_object

Payload = Mapping[str, Any]

# status -> (severity, status, wording); statuses not listed are not a verdict on the build.
_VERDICTS: dict[str, tuple[Severity, Status, str]] = {
    "FAILURE": (Severity.high, Status.firing, "failed"),
    "UNSTABLE": (Severity.medium, Status.firing, "is unstable"),
    "SUCCESS": (Severity.info, Status.resolved, "succeeded"),
}
_WORDS = {"ABORTED": "was aborted", "NOT_BUILT": "was not built", "QUEUED": "is queued", "STARTED": "started"}
_BRANCH_PREFIXES = ("refs/heads/", "origin/")
_LOG_LINES = 30
_LOG_CHARS = 4000
_FAILED_TESTS = 10


class JenkinsConfig(TokenHeaderConfig):
    """Keys accepted under `integrations.ci_cd.jenkins`."""


class JenkinsSource(Source):
    """Jenkins jobs notifying through the Notification plugin (JSON format, HTTP protocol)."""

    name: ClassVar[str] = "jenkins"
    group: ClassVar[str] = "ci_cd"
    config_model: ClassVar[type[SourceConfig]] = JenkinsConfig
    auth_scheme: ClassVar[str] = "Basic auth with the secret as password (endpoint URL), Bearer, or X-Guardian-Token"

    def verify(self, headers: Headers, body: bytes) -> None:
        """Require the secret as Basic password, bearer token or token header when one is configured."""
        if self.secret is None:
            return
        require_token_or_authorization(self.secret, headers, getattr(self.config, "token_header", DEFAULT_TOKEN_HEADER))

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` header the plugin sends for an endpoint URL `http://jenkins:<secret>@...`."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(f"jenkins:{self.secret}".encode()).decode()}

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """Turn one build notification into one event."""
        payload = load_json_object(body)
        build = payload.get("build")
        if not isinstance(build, dict):
            raise PayloadInvalid("not a Jenkins Notification plugin payload: no `build` object")
        job = _job_path(payload)
        if job is None:
            raise PayloadInvalid("Jenkins notification names no job: no `name`, `display_name` or `url`")
        return [_event(payload, build, job)]


def _event(payload: Payload, build: Payload, job: str) -> NormalizedEvent:
    phase = (text(build.get("phase")) or "").strip().upper()
    result = (text(build.get("status")) or "").strip().upper()
    scm = _object(build.get("scm"))
    parameters = string_map(build.get("parameters"))
    branch = _branch(first_text(scm.get("branch"), parameters.get("BRANCH_NAME"), parameters.get("BRANCH")))
    key = f"jenkins:{job}" + (f"@{branch}" if branch else "")
    if result in _VERDICTS:
        severity, status, word = _VERDICTS[result]
    else:
        # No verdict yet (queued, started) or none at all (aborted): keep it off the failure's key.
        state = result or phase or "unknown"
        severity, status, word = Severity.info, Status.resolved, _WORDS.get(state, state.lower())
        key += f":{state.lower()}"
    number = _number(build.get("number"))
    title = f"Jenkins {job}" + (f" #{number}" if number else "") + f" {word}" + (f" on {branch}" if branch else "")
    tests = _object(build.get("test_summary"))
    return NormalizedEvent(
        source=JenkinsSource.name,
        kind=f"build.{phase.lower()}" if phase else "build",
        status=status,
        severity=severity,
        title=title,
        message=_message(build, tests),
        service=job,
        environment=first_text(parameters.get("ENVIRONMENT"), parameters.get("ENV")),
        grouping_key=key,
        labels=_labels(
            job=job,
            branch=branch,
            build_number=number,
            phase=phase or None,
            status=result or None,
            commit=text(scm.get("commit")),
        ),
        links=_links(("Build", build.get("full_url")), ("Console", _console(build.get("full_url")))),
        occurred_at=parse_time(build.get("timestamp")),
        extra=_extra(build, scm, tests),
    )


def _job_path(payload: Payload) -> str | None:
    """The job's full path from its relative `url` (`job/team/job/app/` → `team/app`), else its name."""
    url = text(payload.get("url"))
    if url:
        parts = [part for part in url.strip("/").split("/") if part]
        # Folders and multibranch jobs nest as job/<folder>/job/<name>; every other segment is a name.
        if parts and len(parts) % 2 == 0 and set(parts[::2]) == {"job"}:
            return "/".join(parts[1::2])
    return first_text(payload.get("name"), payload.get("display_name"), url)


def _branch(value: str | None) -> str | None:
    if value is None:
        return None
    for prefix in _BRANCH_PREFIXES:
        value = value.removeprefix(prefix)
    return value or None


def _number(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return str(value)
    return text(value)


def _message(build: Payload, tests: Payload) -> str:
    """Build notes, failed tests and the tail of the log: what a person reads first."""
    parts = []
    if notes := text(build.get("notes")):
        parts.append(notes.strip())
    failed = _strings(tests.get("failed_tests"))
    if failed:
        more = len(failed) - _FAILED_TESTS
        parts.append("Failed tests: " + ", ".join(failed[:_FAILED_TESTS]) + (f" and {more} more" if more > 0 else ""))
    if log := text(build.get("log")):
        tail = "\n".join(log.rstrip().splitlines()[-_LOG_LINES:])
        parts.append(tail[-_LOG_CHARS:])
    return "\n\n".join(parts)


def _console(full_url: object) -> str | None:
    url = text(full_url)
    return url.rstrip("/") + "/console" if url else None


def _extra(build: Payload, scm: Payload, tests: Payload) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key in ("queue_id", "duration"):
        if _is_plain_number(build.get(key)):
            extra[key] = build[key]
    counts = {key: tests[key] for key in ("total", "failed", "skipped", "passed") if _is_plain_number(tests.get(key))}
    if counts:
        extra["tests"] = counts
    if url := text(scm.get("url")):
        extra["scm_url"] = url
    culprits = _strings(scm.get("culprits"))
    if culprits:
        extra["culprits"] = culprits[:20]
    return extra


def _labels(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _is_plain_number(value: object) -> bool:
    """True for numbers every JSON store can hold: no booleans, infinities, NaN or 64-bit overflows."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _strings(value: object) -> list[str]:
    """The strings in `value` when it is a list; [] for anything else."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
