"""npm audit source: every report format normalized field by field, HMAC and token auth, refusals, the HTTP contract.

npm audit has no webhook and there are no shared fixtures: the payloads under
tests/sources/payloads/npm_audit/ wrap reports in npm's own formats (npm 7+ `auditReportVersion`
2 as in npm/cli's snapshot tests, npm 6 `advisories`, npm's error output) and the generic
findings list; payloads/npm_audit/SOURCES.md says where each comes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import registry
from liberation_guardian.sources.base import SourceConfig
from liberation_guardian.sources.npm_audit import NpmAuditConfig, NpmAuditSource
from tests.sources._contract import ContractServer, assert_fields, assert_refusals, contract_fixture, contract_server
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, json_files, json_object
from tests.sources.conftest import documented_config, hex_hmac, without_each_key

SECRET, TOKEN = "npm-audit-secret", "npm-audit-token"
OWN = PAYLOADS / "npm_audit"
RUN = "https://github.com/acme/storefront/actions/runs/9071234567"
GHSA = "https://github.com/advisories/"


def summary(repository: str, title: str, links: list[str] | None = None) -> dict[str, Any]:
    return {
        "kind": "audit_report",
        "status": Status.resolved,
        "severity": Severity.info,
        "title": title,
        "grouping_key": f"npm_audit:{repository}",
        "links": links or [],
    }


def vulnerability(repository: str, package: str, severity: Severity, title: str, links: list[str]) -> dict[str, Any]:
    resolved = severity is Severity.info
    return {
        "kind": "vulnerability",
        "status": Status.resolved if resolved else Status.firing,
        "severity": severity,
        "title": title,
        "grouping_key": f"npm_audit:{repository}:{package}",
        "links": links,
    }


# Own payload file name -> expected events, in order: the report summary first, then one per package.
CASES: dict[str, list[dict[str, Any]]] = {
    "npm-v2-report.json": [
        summary(
            "acme/storefront", "npm audit of acme/storefront (main): 3 vulnerable packages (2 critical, 1 high)", [RUN]
        ),
        vulnerability(
            "acme/storefront",
            "minimist",
            Severity.critical,
            "minimist: Prototype Pollution in minimist (and 1 more)",
            [GHSA + "GHSA-vh95-rmgr-6w4m", GHSA + "GHSA-xvch-5gv4-984h", RUN],
        ),
        vulnerability("acme/storefront", "mkdirp", Severity.critical, "mkdirp: vulnerable through minimist", [RUN]),
        vulnerability(
            "acme/storefront",
            "semver",
            Severity.high,
            "semver: semver vulnerable to Regular Expression Denial of Service",
            [GHSA + "GHSA-c2qf-rxjj-qqgw", RUN],
        ),
    ],
    "npm-v2-clean.json": [summary("acme/storefront", "npm audit of acme/storefront (main): no vulnerabilities found")],
    "npm-v2-bare.json": [
        summary("unknown", "npm audit of unknown: 1 vulnerable package (1 high)"),
        vulnerability("unknown", "test-dep-a", Severity.high, "test-dep-a: Test advisory 100", [GHSA + "GHSA-100"]),
    ],
    "npm-v1-report.json": [
        summary("acme/legacy-admin", "npm audit of acme/legacy-admin (develop): 2 vulnerable packages (1 high, 1 low)"),
        vulnerability(
            "acme/legacy-admin",
            "minimist",
            Severity.low,
            "minimist: Prototype Pollution",
            ["https://npmjs.com/advisories/1179"],
        ),
        vulnerability(
            "acme/legacy-admin",
            "lodash",
            Severity.high,
            "lodash: Prototype Pollution (and 1 more)",
            ["https://npmjs.com/advisories/1523", "https://npmjs.com/advisories/1673"],
        ),
    ],
    "findings-report.json": [
        summary(
            "acme/billing",
            "npm audit of acme/billing (main): 2 vulnerable packages (1 high, 1 moderate)",
            ["https://ci.example.com/job/billing/812/"],
        ),
        vulnerability(
            "acme/billing",
            "requests",
            Severity.medium,
            "requests: Unintended leak of Proxy-Authorization header in requests",
            [GHSA + "GHSA-j8r2-6x86-q33q", "https://ci.example.com/job/billing/812/"],
        ),
        vulnerability(
            "acme/billing",
            "jinja2",
            Severity.high,
            "jinja2: Jinja2 sandbox escape via string formatting (and 1 more)",
            ["https://ci.example.com/job/billing/812/"],
        ),
        vulnerability(
            "acme/billing",
            "urllib3",
            Severity.info,
            "urllib3: no longer vulnerable",
            ["https://ci.example.com/job/billing/812/"],
        ),
    ],
    "npm-error.json": [
        {
            "kind": "audit_error",
            "status": Status.firing,
            "severity": Severity.low,
            "title": "npm audit could not run for acme/storefront: "
            "ENOLOCK: This command requires an existing lockfile.",
            "grouping_key": "npm_audit:acme/storefront",
            "links": [],
        }
    ],
}


def source(secret: str | None = None, token: str | None = None, **settings: Any) -> NpmAuditSource:
    secrets = {key: value for key, value in (("webhook_secret", secret), ("token", token)) if value}
    return NpmAuditSource(NpmAuditConfig(**settings), secrets)


def read(name: str) -> bytes:
    return (OWN / name).read_bytes()


def load(name: str) -> dict[str, Any]:
    return json_object(read(name))


def repository_of(name: str) -> str:
    return str(load(name).get("repository", "unknown"))


@pytest.mark.parametrize(("name", "expected"), CASES.items(), ids=list(CASES))
def test_report_normalizes(name: str, expected: list[dict[str, Any]]) -> None:
    events = source().parse({}, read(name))
    assert len(events) == len(expected), [event.title for event in events]
    for event, wanted in zip(events, expected, strict=True):
        assert event.source == "npm_audit"
        assert event.kind == wanted["kind"]
        assert event.status is wanted["status"]
        assert event.severity is wanted["severity"]
        assert event.title == wanted["title"]
        assert event.service == repository_of(name)
        assert event.environment is None
        assert event.grouping_key == wanted["grouping_key"]
        assert [link.url for link in event.links] == wanted["links"]
        assert event.stack_frames == []


def test_every_own_payload_has_a_case() -> None:
    assert {path.name for path in OWN.glob("*.json")} == set(CASES)


def test_v2_details_land_in_message_labels_and_extra() -> None:
    _, minimist, mkdirp, semver = source().parse({}, read("npm-v2-report.json"))
    assert minimist.message == (
        "Severity: critical. Vulnerable range: <=0.2.3. Affects: mkdirp. "
        "Fix: upgrade mkdirp to 3.0.1 (a semver-major change)."
    )
    assert minimist.labels == {
        "repository": "acme/storefront",
        "branch": "main",
        "package": "minimist",
        "npm_severity": "critical",
        "direct": "false",
    }
    assert [advisory["id"] for advisory in minimist.extra["advisories"]] == [1096466, 1097678]
    assert minimist.extra["advisories"][1]["cvss"] == 9.8
    assert minimist.extra["commit"] == "3c1d5e7f9a0b2c4d6e8f0a1b3c5d7e9f1a2b4c6d"
    assert mkdirp.extra["via"] == ["minimist"] and mkdirp.labels["direct"] == "true"
    assert semver.message.endswith("Fix: available through npm audit fix.")


def test_v1_groups_advisories_per_package_at_the_worst_severity() -> None:
    _, minimist, lodash = source().parse({}, read("npm-v1-report.json"))
    assert [advisory["id"] for advisory in lodash.extra["advisories"]] == [1523, 1673]
    assert lodash.extra["advisories"][1]["cve"] == ["CVE-2021-23337"]
    assert lodash.extra["versions"] == ["4.17.15"]
    assert (lodash.labels["direct"], minimist.labels["direct"]) == ("true", "false")
    assert minimist.message == (
        "Severity: low. Installed: 0.0.8. Vulnerable range: <0.2.1 || >=1.0.0 <1.2.3. "
        "Fix: Upgrade to versions 0.2.1, 1.2.3 or later."
    )


def test_summary_counts_packages_and_keeps_npms_own_counts() -> None:
    report = source().parse({}, read("npm-v1-report.json"))[0]
    assert report.extra["counts"] == {"low": 1, "high": 1}
    assert report.extra["npm_counts"] == {"info": 0, "low": 2, "moderate": 0, "high": 1, "critical": 0}
    assert report.extra["format"] == "npm-v1"


def test_findings_list_under_report_and_fix_versions() -> None:
    payload = load("findings-report.json")
    payload["report"] = payload["report"]["findings"]
    events = source().parse({}, json.dumps(payload).encode())
    assert [event.title for event in events] == [wanted["title"] for wanted in CASES["findings-report.json"]]
    jinja2 = events[2]
    assert jinja2.message == "Severity: high. Installed: 2.10. Fix: upgrade (fixed in 2.10.1, 2.11.3)."


def test_package_listed_with_severity_none_resolves_its_earlier_event() -> None:
    fired = source().parse({}, read("findings-report.json"))[1]
    payload = load("findings-report.json")
    payload["report"]["findings"] = [{**payload["report"]["findings"][0], "severity": "none"}]
    summary_event, cleared = source().parse({}, json.dumps(payload).encode())
    assert (fired.status, cleared.status) == (Status.firing, Status.resolved)
    assert fired.grouping_key == cleared.grouping_key
    assert summary_event.title == "npm audit of acme/billing (main): no vulnerabilities found"


def test_good_report_resolves_a_failed_audit() -> None:
    [failed] = source().parse({}, read("npm-error.json"))
    clean = source().parse({}, read("npm-v2-clean.json"))[0]
    assert (failed.status, clean.status) == (Status.firing, Status.resolved)
    assert failed.grouping_key == clean.grouping_key


@pytest.mark.parametrize(
    ("raw", "severity"),
    [
        ("critical", Severity.critical),
        ("high", Severity.high),
        ("moderate", Severity.medium),
        ("medium", Severity.medium),
        ("low", Severity.low),
        ("info", Severity.info),
        ("HIGH", Severity.high),
        ("weird", Severity.medium),
        (None, Severity.medium),
    ],
)
def test_severity_maps(raw: str | None, severity: Severity) -> None:
    payload = load("npm-v2-bare.json")
    payload["vulnerabilities"]["test-dep-a"]["severity"] = raw
    event = source().parse({}, json.dumps(payload).encode())[1]
    assert (event.severity, event.status) == (severity, Status.firing)


def test_default_repository_files_a_bare_report() -> None:
    events = source(default_repository="acme/tools").parse({}, read("npm-v2-bare.json"))
    assert {event.service for event in events} == {"acme/tools"}
    assert events[1].grouping_key == "npm_audit:acme/tools:test-dep-a"


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ("yes", "report"),
        ({"vulnerabilities": {"a": 1}}, "vulnerabilities"),
        ({"advisories": {"1": {"title": "x"}}}, "module_name"),
        ({"advisories": {"1": []}}, "advisories"),
        ({"findings": [{"title": "x"}]}, "package"),
        ({"findings": [1]}, "findings"),
        ({"summary": "nothing"}, "not an npm audit report"),
    ],
)
def test_reports_of_the_wrong_shape_are_invalid(report: Any, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        source().parse({}, json.dumps({"repository": "acme/web", "report": report}).encode())


@pytest.mark.parametrize(
    "other",
    ["snyk/project_snapshot.json", "sonarqube/analysis-quality-gate-ok.json", "github/dependabot_alert-created.json"],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not an npm audit report"):
        source().parse({}, read_fixture(other))


def test_truncated_json_is_malformed() -> None:
    body = read("npm-v2-report.json")
    with pytest.raises(PayloadMalformed):
        source().parse({}, body[: len(body) // 2])


def test_json_array_is_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="array"):
        source().parse({}, b"[{}]")


@pytest.mark.parametrize("name", CASES, ids=list(CASES))
def test_any_field_removed_still_parses_or_is_invalid(name: str) -> None:
    payload = load(name)
    nested: tuple[str, ...] = ()
    report = payload.get("report", payload)
    prefix = "report." if "report" in payload else ""
    for key in ("vulnerabilities", "advisories"):
        for entry in report.get(key, {}):
            nested += (f"{prefix}{key}.{entry}",)
    for removed, body in without_each_key(payload, nested=nested):
        try:
            events = source().parse({}, body)
        except PayloadInvalid:
            continue
        assert events and all(event.title for event in events), removed


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["sha256=", ""])
def test_valid_signature_passes_with_or_without_prefix(prefix: str) -> None:
    body = read("npm-v2-report.json")
    source(SECRET).verify({"x-signature-256": prefix + hex_hmac(SECRET, body)}, body)


def test_signature_header_is_configurable() -> None:
    body = read("npm-v2-report.json")
    source(SECRET, signature_header="X-CI-Signature").verify({"x-ci-signature": hex_hmac(SECRET, body)}, body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-signature-256": ""}, {"x-signature-256": "sha256=" + hex_hmac("other", b"{}")}],
    ids=["missing", "empty", "wrong"],
)
def test_bad_signature_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Signature-256"):
        source(SECRET).verify(headers, read("npm-v2-report.json"))


@pytest.mark.parametrize("given", [TOKEN, f"Bearer {TOKEN}", f"  {TOKEN} "])
def test_valid_token_passes(given: str) -> None:
    source(token=TOKEN).verify({"x-guardian-token": given}, b"{}")
    source(token=TOKEN, token_header="Authorization").verify({"authorization": given}, b"{}")


@pytest.mark.parametrize("headers", [{}, {"x-guardian-token": "nope"}, {"x-api-key": TOKEN}])
def test_bad_token_is_unauthorized(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="X-Guardian-Token"):
        source(token=TOKEN).verify(headers, b"{}")


def test_both_configured_needs_both() -> None:
    body = read("npm-v2-clean.json")
    both = source(SECRET, TOKEN)
    signature = {"x-signature-256": hex_hmac(SECRET, body)}
    both.verify({**signature, "x-guardian-token": TOKEN}, body)
    with pytest.raises(Unauthorized, match="X-Guardian-Token"):
        both.verify(signature, body)
    with pytest.raises(Unauthorized, match="X-Signature-256"):
        both.verify({"x-guardian-token": TOKEN}, body)


def test_no_secret_accepts_anything() -> None:
    source().verify({}, b"anything")


def test_sign_produces_what_verify_accepts() -> None:
    body = read("npm-v2-report.json")
    for signer in (source(SECRET), source(token=TOKEN), source(SECRET, TOKEN)):
        signed = signer.sign(body)
        signer.verify({name.lower(): value for name, value in signed.items()}, body)
    assert source(SECRET, TOKEN).sign(body) == {
        "X-Signature-256": "sha256=" + hex_hmac(SECRET, body),
        "X-Guardian-Token": TOKEN,
    }
    assert source().sign(body) == {}


def test_registered_with_group_and_scheme() -> None:
    assert registry()["npm_audit"] is NpmAuditSource
    assert NpmAuditSource.group == "code_quality"
    assert "X-Signature-256" in NpmAuditSource.auth_scheme


def test_config_forbids_unknown_keys_and_needs_its_own_model() -> None:
    with pytest.raises(ValidationError):
        NpmAuditConfig.model_validate({"signature_heder": "X"})
    with pytest.raises(TypeError, match="NpmAuditConfig"):
        NpmAuditSource(SourceConfig(), {})


def test_documented_example_config_validates() -> None:
    config = NpmAuditConfig.model_validate(documented_config("npm_audit"))
    assert config.webhook_secret_env == "NPM_AUDIT_WEBHOOK_SECRET"
    assert config.signature_header == "X-Signature-256"


# --- through the real server ---------------------------------------------------------------


contract = contract_fixture("npm_audit")


def stored(expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("kind", "status", "severity", "title", "grouping_key")
    return [{key: item[key] for key in keys} for item in expected]


def test_http_contract_every_payload(contract: ContractServer) -> None:
    for name, expected in CASES.items():
        answer = contract.post(read(name))
        events = contract.events(answer)
        assert_fields(events, stored(expected))
        assert {event["service"] for event in events} == {repository_of(name)}


def test_http_contract_refusals(contract: ContractServer, read_fixture: Callable[[str], bytes]) -> None:
    assert_refusals(contract, read("npm-v2-report.json"), read_fixture("snyk/project_snapshot.json"), "npm audit")


def test_http_contract_with_a_token_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    extra = {"webhook_secret_env": None, "token_env": "NPM_AUDIT_TOKEN"}
    with contract_server("npm_audit", tmp_path_factory, extra=extra) as server:
        answer = server.post(read("npm-v1-report.json"))
        assert_fields(server.events(answer), stored(CASES["npm-v1-report.json"]))
        assert server.post(read("npm-v1-report.json"), secret="not-the-token").status_code == 401


# --- property tests --------------------------------------------------------------------------

POOL = json_files(OWN)
REPORT_KEYS = ["report", "repository", "vulnerabilities", "advisories", "findings", "error", "via", "severity"]
reportish = st.recursive(
    json_values,
    lambda children: st.dictionaries(st.sampled_from(REPORT_KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=25,
)


@FUZZ
@given(value=json_values | shaped_values | reportish)
def test_random_json_returns_events_or_a_source_error(value: Any) -> None:
    check(source(), {}, encode(value))


@FUZZ
@given(data=st.data())
def test_mutated_payloads_return_events_or_a_source_error(data: st.DataObject) -> None:
    check(source(), {}, encode(mutate(data, data.draw(st.sampled_from(POOL)))))
