"""The infrastructure agent: resource exhaustion, cost anomalies, security violations, network degradation.

It takes infrastructure, availability, cost and network incidents (and security violations
an infrastructure monitor reports; see `assign.py`) and answers each kind with the handling
an operator would start with, naming the resource, host, pod or account the alert names:

- `resource_exhaustion` (CPU, memory/OOM, disk/inodes, connections, file handles, quota):
  free the resource now, then add capacity, then find what consumed it;
- `cost_anomaly` (the `cost` category): find the resource whose spend jumped, stop the
  waste, set budget alerts;
- `security_violation` (the `security` category): contain, revoke, block, keep evidence;
- `network_degradation` (the `network` category, or DNS, packet, connection words): find
  the failing hop, route around it, retry with backoff;
- `infrastructure_failure` (anything else: a node or instance down): check, restart or
  replace, fail over.

Each plan keeps the steps that name what the alert names; the playbook that applies
(disk full, node not ready, cost spike, ...) replaces the generic rest.
"""

from __future__ import annotations

import re

from liberation_guardian.agents.base import Advice, Situation, impact_of, playbook_evidence, with_playbook

NAME = "infrastructure"

_RESOURCES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("memory", re.compile(r"\bmemory\b|\boom\b|out of memory|oomkill|\bswap\b|\bheap\b", re.I)),
    ("disk", re.compile(r"\bdisk\b|filesystem|no space left|\binodes?\b|volume (is )?full|storage (is )?full", re.I)),
    ("cpu", re.compile(r"\bcpu\b|load average|throttl", re.I)),
    ("connections", re.compile(r"too many connections|max_connections|connection pool|pool exhausted", re.I)),
    ("file_descriptors", re.compile(r"too many open files|file descriptors?|\bulimit\b", re.I)),
    ("quota", re.compile(r"\bquota\b|limit exceeded|rate limit", re.I)),
)
_NETWORK = re.compile(r"\bdns\b|packet|network|unreachable|connection (refused|reset|timed out)|\blatency\b", re.I)
_EXHAUSTED_CATEGORIES = {"infrastructure", "availability", "database"}


class InfrastructureAgent:
    """Concrete handling for infrastructure alerts; see the module docstring for the kinds."""

    name = NAME

    def advise(self, situation: Situation) -> Advice:
        """The handling of the situation's kind."""
        kind, resource = alert_type(situation)
        handler = _HANDLERS[kind]
        summary, plan, prevention, details = handler(situation, resource)
        return Advice(
            agent=NAME,
            kind=kind,
            summary=summary,
            impact=impact_of(situation),
            plan=tuple(plan),
            prevention=tuple(prevention),
            evidence={
                "event_id": situation.event_id,
                "target": _target(situation),
                "resource": resource,
                "playbook": playbook_evidence(situation.playbook),
            },
            details=details,
        )


def alert_type(situation: Situation) -> tuple[str, str | None]:
    """The kind of infrastructure alert, and the exhausted resource when it is one."""
    if situation.category == "cost":
        return "cost_anomaly", None
    if situation.category == "security":
        return "security_violation", None
    resource = next((name for name, words in _RESOURCES if words.search(situation.text)), None)
    if resource is not None and situation.category in _EXHAUSTED_CATEGORIES:
        return "resource_exhaustion", resource
    if situation.category == "network" or _NETWORK.search(situation.text):
        return "network_degradation", None
    if resource is not None:
        return "resource_exhaustion", resource
    return "infrastructure_failure", None


def _target(s: Situation) -> str:
    """The thing the alert is about: pod, node, instance or host from the labels, else the service."""
    namespace = s.label("namespace")
    pod = s.label("pod", "pod_name")
    if pod:
        return f"pod {namespace + '/' if namespace else ''}{pod}"
    for label, word in (("node", "node"), ("instance", "instance"), ("host", "host"), ("hostname", "host")):
        value = s.label(label)
        if value:
            return f"{word} {value}"
    return s.service or "the affected host"


Handling = tuple[str, list[str], list[str], dict[str, object]]

_DISPLAY = {
    "cpu": "CPU",
    "memory": "Memory",
    "disk": "Disk space",
    "connections": "Connections",
    "file_descriptors": "File descriptors",
    "quota": "Quota",
}
_FREE: dict[str, tuple[str, str, str | None]] = {
    # resource: (what to free now, what to add, fix template)
    "memory": (
        "Restart the worst offender to release memory, after capturing a heap profile or dump",
        "raise its memory limit by 25-50% or add a replica",
        "raise-memory-limit",
    ),
    "disk": (
        "Free space now: rotate and compress logs, delete old artifacts and core dumps, prune unused images",
        "expand the volume, and set retention on whatever grew",
        None,
    ),
    "cpu": (
        "Find the processes or pods using the CPU (top / kubectl top pods) and stop any runaway job",
        "scale out (more replicas or a larger instance) until utilisation is under 70%",
        "scale-out",
    ),
    "connections": (
        "Find the clients holding connections (pg_stat_activity / SHOW PROCESSLIST) and end the idle ones",
        "raise the pool or server connection limit, or put a pooler (PgBouncer) in front",
        "raise-pool-size",
    ),
    "file_descriptors": (
        "List the open files of the process (ls /proc/<pid>/fd | wc -l) and restart it if handles leak",
        "raise its nofile limit (ulimit -n, LimitNOFILE)",
        None,
    ),
    "quota": (
        "Find which quota is hit (cloud console, API response) and pause the job consuming it",
        "request a quota increase or spread the work over time",
        "retry-with-backoff",
    ),
}


def _resource_exhaustion(s: Situation, resource: str | None) -> Handling:
    resource = resource or "cpu"
    free, add, template = _FREE[resource]
    target = _target(s)
    specific = [f"{free} on {target}.", f"Then {add}."]
    pod = s.label("pod", "pod_name")
    if pod and resource == "memory":
        namespace = f"-n {s.label('namespace')} " if s.label("namespace") else ""
        specific.insert(0, f"kubectl {namespace}describe pod {pod}: confirm OOMKilled and the limit it hit.")
    generic = [
        f"Check whether usage grew steadily (a leak or unbounded growth) or jumped (a load spike, a batch job) "
        f"over the last 24 h of {resource} metrics for {target}."
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = [
        f"Alert at 80% {resource} on {target}, before it runs out.",
        "Set requests and limits (or instance sizes) from measured peaks, with autoscaling on the busiest one.",
    ]
    summary = f"{_DISPLAY.get(resource, resource)} exhausted on {target}: free it now, then add capacity."
    return summary, plan, prevention, {"resource": resource, "fix_template": template, "target": target}


def _cost_anomaly(s: Situation, _resource: str | None) -> Handling:
    account = s.label("account", "account_id", "subscription", "project", "project_id") or "the account"
    where = s.label("region", "location")
    scope = f"{account}{' in ' + where if where else ''}"
    specific = [
        f"Open the cost report for {scope}, grouped by service and resource, for the last 7 days; "
        "find the line that jumped."
    ]
    generic = [
        "Look for the usual waste: instances or node groups scaled up and never down, unattached volumes and "
        "snapshots, idle load balancers, data transfer between regions.",
        "Stop or downsize what is not needed now; schedule non-production resources to stop out of hours.",
        "If the spend is real growth, confirm it with the owner and raise the budget knowingly.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = [
        f"Set a budget with alerts at 50%, 80% and 100% for {scope}.",
        "Tag every resource with its owner and service so an anomaly names who to ask.",
        "Cap autoscaling groups at a maximum size.",
    ]
    summary = f"Cost anomaly in {scope}: find the resource whose spend jumped and stop the waste."
    return summary, plan, prevention, {"account": account, "region": where}


def _security_violation(s: Situation, _resource: str | None) -> Handling:
    target = _target(s)
    actor = s.label("source_ip", "ip", "user", "principal", "actor")
    specific = [f"Contain: isolate {target} (restrictive security group or network policy) without deleting it."]
    generic = ["Revoke and rotate the credentials it holds or that were used (keys, tokens, service account)."]
    if actor:
        specific.append(f"Block {actor} at the firewall / WAF.")
    else:
        generic.append("Block the source address at the firewall / WAF.")
    generic += [
        "Preserve evidence: snapshot disks, export the audit and access logs for the last 24 h.",
        "Escalate to the security owner with the timeline; restore from a known-good image once cleared.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = [
        "Least privilege for the identity involved; remove unused keys.",
        "Alert on the same audit-log signal across all accounts and regions.",
    ]
    summary = f"Security violation on {target}: contain it, revoke credentials and keep the evidence."
    return summary, plan, prevention, {"target": target, "actor": actor}


def _network_degradation(s: Situation, _resource: str | None) -> Handling:
    text = s.text.lower()
    if "dns" in text:
        cause, first = "dns", "Resolve the failing name from the affected host (dig +trace) and check the resolver."
    elif "packet" in text or "loss" in text:
        cause, first = "packet_loss", "Run mtr between the affected host and its peer to find the hop losing packets."
    elif "refused" in text or "reset" in text:
        cause, first = "connection", "Check the peer is listening and that no security group or firewall rule changed."
    else:
        cause, first = "latency", "Compare latency by hop and by zone to find where it grows (mtr, load balancer logs)."
    target = _target(s)
    generic = [
        "Check the load balancer's target health and the network provider's status page.",
        f"If one zone or path is bad, shift traffic for {target} away from it.",
        "Make callers retry with backoff and a circuit breaker so a slow hop does not pile up requests.",
    ]
    plan = with_playbook([first], generic, s.playbook)
    prevention = [
        "Spread the service over more than one zone, with health-checked failover.",
        "Set client timeouts below the caller's own deadline.",
    ]
    issue = cause.replace("_", " ")
    summary = f"Network degradation ({issue}) affecting {target}: find the failing hop, route around it."
    return summary, plan, prevention, {"network_issue": cause, "fix_template": "retry-with-backoff"}


def _infrastructure_failure(s: Situation, _resource: str | None) -> Handling:
    target = _target(s)
    specific = [
        f"Check {target}: reachable, health check, recent events (kubectl describe / cloud console).",
        f"Restart or replace {target}; drain it first if it still serves traffic.",
    ]
    generic = [
        "Fail over to a healthy replica or zone if it does not come back within 10 min.",
        "Read its logs from just before it failed for the cause.",
    ]
    plan = with_playbook(specific, generic, s.playbook)
    prevention = ["Run at least two instances behind a health-checked load balancer.", "Alert on the health check."]
    return f"{target.capitalize()} is failing: check, restart or replace, fail over.", plan, prevention, {}


_HANDLERS = {
    "resource_exhaustion": _resource_exhaustion,
    "cost_anomaly": _cost_anomaly,
    "security_violation": _security_violation,
    "network_degradation": _network_degradation,
    "infrastructure_failure": _infrastructure_failure,
}
