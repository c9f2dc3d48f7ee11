"""Which stored events are changes (deploys, CI failures, configuration and code changes), and whose.

The sources name their event kinds as the tools do, so the kinds that can be a change are
listed here once: the store is asked only for events of these kinds (an indexed look-up
by kind and time), and each is then classified from its kind, status and words. A tool
without a source of its own (the `generic` source, kind `event`) counts when its title
says deploy, release, rollout or configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from liberation_guardian.events import Status

DEPLOY_KINDS = frozenset(
    {
        "deploy",  # Rollbar
        "deployment",  # GitHub, GitLab
        "deployment_status",  # GitHub
        "release",  # GitHub, Bugsnag
        "ms.vss-release.deployment-completed-event",  # Azure DevOps classic releases
        "ms.vss-release.release-created-event",
    }
)
CI_KINDS = frozenset(
    {
        "workflow_run",
        "workflow_job",
        "check_run",
        "check_suite",
        "status",  # GitHub
        "pipeline",
        "build",  # GitLab
        "build.completed",
        "build.finalized",  # Jenkins
        "workflow-completed",
        "job-completed",  # CircleCI
        "build.complete",
        "ms.vss-pipelines.run-state-changed-event",
        "ms.vss-pipelines.stage-state-changed-event",
        "ms.vss-pipelines.job-state-changed-event",  # Azure DevOps
        "repo:commit_status_created",
        "repo:commit_status_updated",  # Bitbucket
    }
)
CODE_KINDS = frozenset(
    {
        "push",
        "tag_push",
        "pull_request",
        "merge_request",
        "git.push",
        "git.pullrequest.merged",
        "repo:push",
        "repo:refs_changed",
        "pullrequest:fulfilled",
        "pr:merged",
    }
)
CONFIG_KINDS = frozenset({"config_change", "configuration_change", "feature_flag"})
GENERIC_KINDS = frozenset({"event"})
CHANGE_KINDS = DEPLOY_KINDS | CI_KINDS | CODE_KINDS | CONFIG_KINDS | GENERIC_KINDS

_CONFIG_WORDS = re.compile(
    r"\bconfig(uration)?\b|configmap|feature.?flag|\bsettings?\b|environment variables?|\.env\b|\.ya?ml\b|\.toml\b",
    re.I,
)
_DEPLOY_WORDS = re.compile(r"\bdeploy|\brelease[ds]?\b|\broll(ed)?.?out\b|helm (upgrade|install)", re.I)
_CODE_DONE = re.compile(r"\bmerged\b|\bpush(ed)? to\b", re.I)


def classify(kind: str, status: str, title: str) -> str | None:
    """`deploy`, `ci_failure`, `config_change`, `code_change`, or None when the event is not a change."""
    if kind in CONFIG_KINDS:
        return "config_change"
    if kind in CI_KINDS:
        return "ci_failure" if status == Status.firing else None
    if kind in DEPLOY_KINDS:
        return "config_change" if _CONFIG_WORDS.search(title) else "deploy"
    if kind in CODE_KINDS:
        if kind in ("pull_request", "merge_request") and not _CODE_DONE.search(title):
            return None  # an opened or commented pull request changes nothing yet
        return "config_change" if _CONFIG_WORDS.search(title) else "code_change"
    if kind in GENERIC_KINDS:
        if _DEPLOY_WORDS.search(title):
            return "deploy"
        if re.search(r"\b(changed|updated|modified|applied)\b", title, re.I) and _CONFIG_WORDS.search(title):
            return "config_change"
    return None


def names(service: str | None, labels: Mapping[str, object]) -> set[str]:
    """The names a service or repository goes by: `acme/checkout` is also `checkout`, lower-cased."""
    found: set[str] = set()
    for value in (service, labels.get("repository"), labels.get("project"), labels.get("app"), labels.get("service")):
        if isinstance(value, str) and value.strip():
            whole = value.strip().lower()
            found |= {whole, whole.rstrip("/").rsplit("/", 1)[-1]}
    return found


def scope(incident_service: str | None, incident_names: set[str], service: str | None, other: set[str]) -> str:
    """`service` (the same service), `repository` (a name they share), or `global`."""
    if incident_service and service and incident_service.lower() == service.lower():
        return "service"
    if incident_names & other:
        return "repository"
    return "global"
