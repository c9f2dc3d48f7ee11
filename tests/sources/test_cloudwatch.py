"""CloudWatch source: SNS envelopes and Lambda records, alarm mapping, SNS signatures, subscription handshake.

Signatures are made here with a test RSA key, exactly as SNS documents them
(https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html), and the
signing certificate and the SubscribeURL are served by a local HTTPS server whose TLS
certificate comes from a test CA (`ca_file`). Own payloads: tests/sources/payloads/cloudwatch/
(see SOURCES.md there).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from liberation_guardian.errors import PayloadInvalid, PayloadMalformed, SourceError, Unauthorized
from liberation_guardian.events import Severity, Status
from liberation_guardian.sources import config_keys, registry
from liberation_guardian.sources._sns import ConfirmationFailed
from liberation_guardian.sources.cloudwatch import CloudWatchConfig, CloudWatchSource
from tests.sources._contract import ContractServer, assert_fields, contract_server
from tests.sources._fuzz import FUZZ, check, encode, json_values, mutate, shaped_values
from tests.sources._helpers import PAYLOADS, basic_auth, json_object, payload_reader
from tests.sources.conftest import documented_config, without_each_key

OWN = PAYLOADS / "cloudwatch"
SECRET = "s3cret"
LAMBDA_ARN = "cloudwatch:arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE"
API_ARN = "cloudwatch:arn:aws:cloudwatch:us-east-1:111122223333:alarm:[critical] api-5xx-rate"
API_CONSOLE = (
    "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/%5Bcritical%5D%20api-5xx-rate"
)
REASON = "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold"

# path -> [(kind, status, severity, title, service, grouping key, links)] per event.
FIXTURES: list[tuple[str, list[tuple[Any, ...]]]] = [
    (
        "aws-sns/http-notification.json",
        [("notification", Status.resolved, Severity.info, "My First Message", None, None, [])],
    ),
    ("aws-sns/http-subscription-confirmation.json", []),
    (
        "cloudwatch/alarm-sns-lambda-single-metric.json",
        [("alarm", Status.firing, Severity.high, "EXAMPLE", "TestInstance", LAMBDA_ARN, [])],
    ),
    (
        "cloudwatch/alarm-sns-lambda-metric-math.json",
        [("alarm", Status.firing, Severity.high, "EXAMPLE", "TestInstance", LAMBDA_ARN, [])],
    ),
    (
        "own:http-alarm-firing.json",
        [
            (
                "alarm",
                Status.firing,
                Severity.critical,
                "[critical] api-5xx-rate",
                "app/public-api/50dc6c495c0c9188",
                API_ARN,
                [API_CONSOLE],
            )
        ],
    ),
    (
        "own:http-alarm-ok.json",
        [
            (
                "alarm",
                Status.resolved,
                Severity.critical,
                "[critical] api-5xx-rate",
                "app/public-api/50dc6c495c0c9188",
                API_ARN,
                [API_CONSOLE],
            )
        ],
    ),
    (
        "own:http-alarm-insufficient-data.json",
        [
            (
                "alarm",
                Status.firing,
                Severity.medium,
                "[critical] api-5xx-rate",
                "app/public-api/50dc6c495c0c9188",
                API_ARN,
                [API_CONSOLE],
            )
        ],
    ),
    ("own:http-unsubscribe-confirmation.json", []),
]
HEADERS = {
    "aws-sns/http-notification.json": "Notification",
    "aws-sns/http-subscription-confirmation.json": "SubscriptionConfirmation",
    "own:http-alarm-firing.json": "Notification",
    "own:http-alarm-ok.json": "Notification",
    "own:http-alarm-insufficient-data.json": "Notification",
    "own:http-unsubscribe-confirmation.json": "UnsubscribeConfirmation",
}


@pytest.fixture(scope="session")
def read(read_fixture: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """Read a shared fixture, or one of this source's own payloads (`own:<file>`)."""
    return payload_reader(read_fixture, OWN)


def source(secret: str | None = None, **config: Any) -> CloudWatchSource:
    return CloudWatchSource(CloudWatchConfig(**config), {"webhook_secret": secret} if secret else {})


def unverified(**config: Any) -> CloudWatchSource:
    return source(verify_signature=False, **config)


# --- a local stand-in for the SNS hosts: signing certificate and SubscribeURL over https ---


class SnsHost:
    """Serves the test signing certificate and a SubscribeURL endpoint on 127.0.0.1 over https."""

    def __init__(self, tmp: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pems = {"/cert.pem": _self_signed(self.key), "/other.pem": _self_signed(self.other_key)}
        self.requests: list[str] = []
        self.confirm_status = 200
        ca = trustme.CA()
        self.ca_file = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def config(self, **extra: Any) -> dict[str, Any]:
        """Source config that trusts this host (test CA, 127.0.0.1 accepted as an SNS host)."""
        return {"cert_host_pattern": r"127\.0\.0\.1", "ca_file": str(self.ca_file), **extra}

    def sign(
        self, message: dict[str, Any], *, version: str = "1", cert: str = "/cert.pem", key: Any = None
    ) -> dict[str, Any]:
        """`message` with a fresh Timestamp, signed with the test key as SNS signs, cert URL on this host."""
        signed = {**message, "Timestamp": _now(), "SignatureVersion": version}
        url_key = "SigningCertUrl" if "SigningCertUrl" in message else "SigningCertURL"
        signed[url_key] = cert if cert.startswith(("http://", "https://")) else self.base + cert
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(sns_string_to_sign(signed), padding.PKCS1v15(), digest)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
                host.requests.append(self.path)
                if self.path in host.pems:
                    self._answer(200, host.pems[self.path])
                elif self.path.startswith("/confirm"):
                    arn = b"<SubscriptionArn>arn:aws:sns:us-west-2:123456789012:MyTopic:2bcfbf39</SubscriptionArn>"
                    self._answer(host.confirm_status, b"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult>" + arn)
                else:
                    self._answer(404, b"not found")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def sns_string_to_sign(message: dict[str, Any]) -> bytes:
    """SNS's documented string to sign, written here independently of the code under test."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{name}\n{message[name]}\n" for name in names if message.get(name) is not None).encode()


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _now(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@pytest.fixture(scope="module")
def sns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnsHost]:
    host = SnsHost(tmp_path_factory.mktemp("sns-host"))
    yield host
    host.close()


def load(read: Callable[[str], bytes], path: str) -> dict[str, Any]:
    return json_object(read(path))


def signed_body(sns: SnsHost, read: Callable[[str], bytes], path: str, **options: Any) -> bytes:
    """A fixture re-signed by the test key (each record's Sns for the Lambda form)."""
    payload = load(read, path)
    if "Records" in payload:
        for record in payload["Records"]:
            record["Sns"] = sns.sign(record["Sns"], **options)
        return json.dumps(payload).encode()
    return json.dumps(sns.sign(payload, **options)).encode()


# --- parsing ---


@pytest.mark.parametrize(("path", "expected"), FIXTURES, ids=[case[0] for case in FIXTURES])
def test_fixture_normalizes(read: Callable[[str], bytes], path: str, expected: list[tuple[Any, ...]]) -> None:
    headers = {"x-amz-sns-message-type": HEADERS[path]} if path in HEADERS else {}
    events = unverified().parse(headers, read(path))
    got = [
        (e.kind, e.status, e.severity, e.title, e.service, e.grouping_key, [link.url for link in e.links])
        for e in events
    ]
    assert got == expected
    for event in events:
        assert event.source == "cloudwatch" and event.occurred_at is not None and event.environment is None


def test_alarm_fields(read: Callable[[str], bytes]) -> None:
    [event] = unverified().parse({}, read("cloudwatch/alarm-sns-lambda-metric-math.json"))
    assert event.message.startswith(REASON)
    assert event.occurred_at is not None and event.occurred_at.isoformat() == "2015-06-03T17:43:27.123000+00:00"
    assert event.labels == {
        "InstanceId": "TestInstance",
        "alarm_name": "EXAMPLE",
        "state": "ALARM",
        "previous_state": "INSUFFICIENT_DATA",
        "namespace": "AWS/EC2",
        "metric_name": "NetworkOut",
        "account": "EXAMPLE",
    }
    assert event.extra["comparison"] == "GreaterThanThreshold" and event.extra["threshold"] == "0.0"


def test_firing_and_ok_share_the_grouping_key(read: Callable[[str], bytes]) -> None:
    keys = {
        unverified().parse({}, read(f"own:{name}"))[0].grouping_key
        for name in ("http-alarm-firing.json", "http-alarm-ok.json")
    }
    assert keys == {API_ARN}


def alarm_body(**alarm: Any) -> bytes:
    message = {"AlarmName": "disk", "NewStateValue": "ALARM", "Region": "EU (Ireland)", **alarm}
    return json.dumps(
        {"Type": "Notification", "TopicArn": "arn:aws:sns:eu-west-1:1:t", "Message": json.dumps(message)}
    ).encode()


@pytest.mark.parametrize(
    ("alarm", "config", "severity", "status"),
    [
        ({}, {}, Severity.high, Status.firing),
        ({}, {"severity": "medium"}, Severity.medium, Status.firing),
        ({"AlarmName": "[warning] disk"}, {}, Severity.medium, Status.firing),
        ({"AlarmName": "disk [P1] [Low]"}, {}, Severity.low, Status.firing),
        ({"AlarmDescription": "Root volume. severity=critical"}, {}, Severity.critical, Status.firing),
        ({"AlarmDescription": "severity: info"}, {}, Severity.info, Status.firing),
        ({"AlarmName": "[error] disk", "AlarmDescription": "severity=low"}, {}, Severity.high, Status.firing),
        ({"NewStateValue": "OK"}, {}, Severity.high, Status.resolved),
        ({"NewStateValue": "INSUFFICIENT_DATA"}, {}, Severity.medium, Status.firing),
        ({"NewStateValue": "INSUFFICIENT_DATA"}, {"insufficient_data_severity": "low"}, Severity.low, Status.firing),
        (
            {"NewStateValue": "INSUFFICIENT_DATA"},
            {"insufficient_data_severity": "info"},
            Severity.info,
            Status.resolved,
        ),
    ],
)
def test_severity_and_status(alarm: dict[str, Any], config: dict[str, Any], severity: Severity, status: Status) -> None:
    [event] = unverified(**config).parse({}, alarm_body(**alarm))
    assert (event.severity, event.status) == (severity, status)


def test_alarm_without_arn_groups_by_region_and_name() -> None:
    [event] = unverified().parse({}, alarm_body())
    assert event.grouping_key == "cloudwatch:EU (Ireland):disk"
    assert event.links == []


def test_china_partition_links_to_its_console() -> None:
    [event] = unverified().parse({}, alarm_body(AlarmArn="arn:aws-cn:cloudwatch:cn-north-1:1:alarm:disk"))
    assert [link.url for link in event.links] == [
        "https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#alarmsV2:alarm/disk"
    ]


@pytest.mark.parametrize("message", ["{not json", '{"AlarmName": "x"}', "[1, 2]", "", '{"a": "\\ud800"}'])
def test_a_message_that_is_not_an_alarm_is_an_info_notification(message: str) -> None:
    body = json.dumps({"Type": "Notification", "Message": message, "MessageId": "m1"}).encode()
    [event] = unverified().parse({}, body)
    assert (event.kind, event.severity, event.status, event.message) == (
        "notification",
        Severity.info,
        Status.resolved,
        message,
    )
    assert event.title == (message.splitlines()[0] if message else "SNS notification")


def test_several_lambda_records_give_several_events(read: Callable[[str], bytes]) -> None:
    payload = load(read, "cloudwatch/alarm-sns-lambda-single-metric.json")
    payload["Records"] *= 3
    assert len(unverified().parse({}, json.dumps(payload).encode())) == 3


@pytest.mark.parametrize(
    "other",
    [
        "sentry/issue-created.json",
        "alertmanager/firing-2-alerts.json",
        "azure-monitor/common-schema-metric-resolved.json",
    ],
)
def test_other_tools_payload_is_invalid(read_fixture: Callable[[str], bytes], other: str) -> None:
    with pytest.raises(PayloadInvalid, match="not an Amazon SNS message"):
        unverified().parse({}, read_fixture(other))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"Records": {}}', "not a list"),
        (b'{"Records": [{"Sns": {}}, {"EventSource": "aws:sns"}]}', r"Records\[1\]"),
        (b'{"Type": "Surprise", "Message": "x"}', "unsupported SNS message Type"),
        (b"[]", "array"),
    ],
)
def test_malformed_envelopes_are_invalid(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        unverified().parse({}, body)


def test_truncated_json_is_malformed(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadMalformed):
        unverified().parse({}, read_fixture("aws-sns/http-notification.json")[:-3])


@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_any_field_removed_still_parses_or_is_invalid(read: Callable[[str], bytes], path: str) -> None:
    payload = load(read, path)
    nested = ("Records.0.Sns",) if "Records" in payload else ()
    for removed, body in _without(payload, nested):
        try:
            events = unverified().parse({}, body)
        except PayloadInvalid:
            assert removed in ("Records", "Type", "Records.0.Sns") or removed.startswith("Records.0"), removed
            continue
        assert all(event.title for event in events), removed


def _without(payload: dict[str, Any], nested: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    if not nested:
        yield from without_each_key(payload)
        return
    yield from without_each_key(payload)
    for key in list(payload["Records"][0]["Sns"]):
        copy = json.loads(json.dumps(payload))
        del copy["Records"][0]["Sns"][key]
        yield f"Records.0.Sns.{key}", json.dumps(copy).encode()


# --- the SNS signature ---


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("path", [case[0] for case in FIXTURES])
def test_signed_messages_pass(sns: SnsHost, read: Callable[[str], bytes], path: str, version: str) -> None:
    source(**sns.config()).verify({}, signed_body(sns, read, path, version=version))


def test_the_certificate_is_fetched_once_per_url(sns: SnsHost, read: Callable[[str], bytes]) -> None:
    checker = source(**sns.config())
    before = sns.requests.count("/cert.pem")
    for _ in range(3):
        checker.verify({}, signed_body(sns, read, "aws-sns/http-notification.json"))
    assert sns.requests.count("/cert.pem") == before + 1


def tampered(sns: SnsHost, message: dict[str, Any]) -> dict[str, Any]:
    """`message` signed, then its alarm state changed from ALARM to OK."""
    message = sns.sign(message)
    message["Message"] = message["Message"].replace('"ALARM"', '"OK"', 1)
    return message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda sns, m: tampered(sns, m), "does not match"),
        (lambda sns, m: {**sns.sign(m), "Subject": "changed"}, "does not match"),
        (lambda sns, m: sns.sign(m, key=sns.other_key), "does not match"),
        (lambda sns, m: sns.sign(m, cert="/other.pem"), "does not match"),
        (lambda sns, m: sns.sign(m, cert="https://sns.evil.example/cert.pem"), "not an SNS host"),
        (lambda sns, m: sns.sign(m, cert="https://127.0.0.1.evil.example/cert.pem"), "not an SNS host"),
        (lambda sns, m: sns.sign(m, cert=sns.base.replace("https:", "http:") + "/cert.pem"), "not an https URL"),
        (lambda sns, m: sns.sign(m, cert=sns.base.replace("//", "//user:pw@") + "/cert.pem"), "credentials"),
        (lambda sns, m: sns.sign(m, cert="/missing.pem"), "could not fetch"),
        (lambda sns, m: {k: v for k, v in sns.sign(m).items() if k != "Signature"}, "no Base64 Signature"),
        (lambda sns, m: {**sns.sign(m), "Signature": "!!not base64!!"}, "no Base64 Signature"),
        (lambda sns, m: {**sns.sign(m), "SignatureVersion": "3"}, "SignatureVersion"),
        (lambda sns, m: {**sns.sign(m), "Timestamp": "2012-05-02T00:54:06.655Z"}, "older than"),
        (lambda sns, m: sns.sign(m) | {"Timestamp": _now(timedelta(hours=1))}, "in the future"),
        (lambda sns, m: {**sns.sign(m), "MessageId": 7}, "MessageId"),
    ],
    ids=[
        "tampered-message",
        "tampered-subject",
        "other-key",
        "other-cert",
        "other-host",
        "host-suffix",
        "http-cert-url",
        "userinfo",
        "cert-404",
        "missing-signature",
        "bad-base64",
        "unknown-version",
        "stale",
        "future",
        "non-string-field",
    ],
)
def test_bad_signatures_are_unauthorized(
    sns: SnsHost,
    read: Callable[[str], bytes],
    change: Callable[[SnsHost, Any], dict[str, Any]],
    reason: str,
) -> None:
    message = load(read, "own:http-alarm-firing.json")
    body = json.dumps(change(sns, message)).encode()
    with pytest.raises(Unauthorized, match=reason):
        source(**sns.config()).verify({}, body)


def test_the_default_host_pattern_only_accepts_sns_hosts(sns: SnsHost, read: Callable[[str], bytes]) -> None:
    body = signed_body(sns, read, "aws-sns/http-notification.json")
    with pytest.raises(Unauthorized, match="'127.0.0.1' is not an SNS host"):
        source(ca_file=str(sns.ca_file)).verify({}, body)


def test_unsigned_fixtures_are_refused_with_verification_on(read: Callable[[str], bytes]) -> None:
    with pytest.raises(Unauthorized):
        source(max_age_seconds=0).verify({}, read("cloudwatch/alarm-sns-lambda-single-metric.json"))
    with pytest.raises(Unauthorized, match="SigningCertURL host 'sns.us-west-2.amazonaws.com.evil'"):
        body = load(read, "aws-sns/http-notification.json")
        body["SigningCertURL"] = "https://sns.us-west-2.amazonaws.com.evil/x.pem"
        source(max_age_seconds=0).verify({}, json.dumps(body).encode())


def test_max_age_zero_accepts_old_signed_messages(sns: SnsHost, read: Callable[[str], bytes]) -> None:
    message = load(read, "aws-sns/http-notification.json")
    signed = sns.sign(message)
    signed["Timestamp"] = message["Timestamp"]  # 2012, then signed again with it
    digest = sns.key.sign(sns_string_to_sign(signed), padding.PKCS1v15(), hashes.SHA1())
    signed["Signature"] = base64.b64encode(digest).decode()
    source(**sns.config(max_age_seconds=0)).verify({}, json.dumps(signed).encode())


def test_verification_off_accepts_unsigned(read: Callable[[str], bytes]) -> None:
    unverified().verify({}, read("cloudwatch/alarm-sns-lambda-single-metric.json"))


def test_a_body_that_is_not_sns_is_refused_before_any_fetch(read_fixture: Callable[[str], bytes]) -> None:
    with pytest.raises(PayloadInvalid):
        source().verify({}, read_fixture("sentry/issue-created.json"))
    with pytest.raises(PayloadMalformed):
        source().verify({}, b"not json")


def test_topic_allowlist(read: Callable[[str], bytes]) -> None:
    body = read("own:http-alarm-firing.json")
    unverified(topic_arns=["arn:aws:sns:us-east-1:111122223333:*"]).verify({}, body)
    with pytest.raises(Unauthorized, match="TopicArn 'arn:aws:sns:us-east-1:111122223333:ops-alarms'"):
        unverified(topic_arns=["arn:aws:sns:us-east-1:111122223333:other"]).verify({}, body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": basic_auth("sns", "wrong")}, {"authorization": "Bearer wrong"}],
    ids=["missing", "wrong-password", "wrong-token"],
)
def test_a_configured_secret_is_required(read: Callable[[str], bytes], headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized, match="Authorization"):
        source(SECRET, verify_signature=False).verify(headers, read("own:http-alarm-firing.json"))


def test_sign_produces_the_basic_header_verify_accepts(read: Callable[[str], bytes]) -> None:
    checker = source(SECRET, verify_signature=False)
    signed = checker.sign(b"{}")
    assert signed == {"Authorization": basic_auth("sns", SECRET)}
    checker.verify({name.lower(): value for name, value in signed.items()}, read("own:http-alarm-firing.json"))
    assert unverified().sign(b"{}") == {}


# --- the subscription handshake ---


def confirmation(sns: SnsHost, read: Callable[[str], bytes], subscribe_url: str | None = None) -> dict[str, Any]:
    message = load(read, "aws-sns/http-subscription-confirmation.json")
    token = message["Token"][:16]
    message["SubscribeURL"] = subscribe_url or f"{sns.base}/confirm?Action=ConfirmSubscription&Token={token}"
    return sns.sign(message)


def test_a_signed_confirmation_is_confirmed_by_get(sns: SnsHost, read: Callable[[str], bytes]) -> None:
    body = json.dumps(confirmation(sns, read)).encode()
    checker = source(**sns.config())
    checker.verify({}, body)
    answer = checker.handshake({"x-amz-sns-message-type": "SubscriptionConfirmation"}, body)
    assert answer == {
        "confirmed": True,
        "topic_arn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
        "subscription_arn": "arn:aws:sns:us-west-2:123456789012:MyTopic:2bcfbf39",
    }
    assert sns.requests[-1] == "/confirm?Action=ConfirmSubscription&Token=2336412f37fb687f"
    assert checker.parse({}, body) == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example/confirm", "not an SNS host"),
        ("http://127.0.0.1:1/confirm", "not an https URL"),
        ("", "no SubscribeURL"),
    ],
)
def test_subscribe_url_is_checked_before_any_call(sns: SnsHost, url: str, reason: str) -> None:
    before = len(sns.requests)
    body = json.dumps({"Type": "SubscriptionConfirmation", "TopicArn": "t", "SubscribeURL": url}).encode()
    with pytest.raises(Unauthorized, match=reason):
        source(**sns.config()).handshake({}, body)
    assert len(sns.requests) == before


def test_a_refused_confirmation_is_a_502(sns: SnsHost, read: Callable[[str], bytes]) -> None:
    sns.confirm_status = 403
    try:
        with pytest.raises(ConfirmationFailed, match="answered 403") as refused:
            source(**sns.config()).handshake({}, json.dumps(confirmation(sns, read)).encode())
        assert refused.value.status == 502
    finally:
        sns.confirm_status = 200


def test_unsubscribe_is_acknowledged_without_a_call(sns: SnsHost, read: Callable[[str], bytes]) -> None:
    before = len(sns.requests)
    answer = source(**sns.config()).handshake({}, read("own:http-unsubscribe-confirmation.json"))
    assert answer == {
        "confirmed": False,
        "unsubscribed": True,
        "topic_arn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    }
    assert len(sns.requests) == before


@pytest.mark.parametrize(
    "path", ["aws-sns/http-notification.json", "cloudwatch/alarm-sns-lambda-single-metric.json", "github/push.json"]
)
def test_other_bodies_have_no_handshake(read: Callable[[str], bytes], path: str) -> None:
    assert source().handshake({}, read(path)) is None
    assert source().handshake({}, b"{trunc") is None


# --- configuration and registration ---


def test_registered_as_infrastructure_with_the_aws_sns_alias() -> None:
    assert registry()["cloudwatch"] is CloudWatchSource
    assert config_keys()["aws-sns"] is CloudWatchSource
    assert CloudWatchSource.group == "infrastructure"


def test_config_checks_the_pattern_and_forbids_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="not a regular expression"):
        CloudWatchConfig.model_validate({"cert_host_pattern": "("})
    with pytest.raises(ValidationError):
        CloudWatchConfig.model_validate({"verify": False})
    with pytest.raises(ValidationError):
        CloudWatchConfig.model_validate({"max_age_seconds": -1})


def test_a_missing_ca_file_is_unauthorized_not_a_crash(read: Callable[[str], bytes], sns: SnsHost) -> None:
    with pytest.raises(Unauthorized, match="ca_file"):
        source(**sns.config(ca_file="/nonexistent/ca.pem")).verify({}, signed_body(sns, read, "own:http-alarm-ok.json"))


def test_documented_example_config_validates() -> None:
    config = CloudWatchConfig.model_validate(documented_config("cloudwatch"))
    assert config.topic_arns and config.severity is Severity.high


# --- through the real server ---


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory, sns: SnsHost) -> Iterator[ContractServer]:
    with contract_server("cloudwatch", tmp_path_factory, extra=sns.config()) as server:
        yield server


CONTRACT = [
    ("aws-sns/http-notification.json", [{"kind": "notification", "severity": "info", "status": "resolved"}]),
    (
        "cloudwatch/alarm-sns-lambda-single-metric.json",
        [{"kind": "alarm", "status": "firing", "severity": "high", "title": "EXAMPLE", "grouping_key": LAMBDA_ARN}],
    ),
    ("cloudwatch/alarm-sns-lambda-metric-math.json", [{"kind": "alarm", "service": "TestInstance"}]),
    ("own:http-alarm-firing.json", [{"status": "firing", "severity": "critical", "grouping_key": API_ARN}]),
    ("own:http-alarm-ok.json", [{"status": "resolved", "severity": "critical", "grouping_key": API_ARN}]),
    ("own:http-alarm-insufficient-data.json", [{"status": "firing", "severity": "medium"}]),
]


@pytest.mark.parametrize(("path", "expected"), CONTRACT, ids=[case[0] for case in CONTRACT])
def test_contract_signed_fixtures_are_stored_normalized(
    contract: ContractServer, sns: SnsHost, read: Callable[[str], bytes], path: str, expected: list[dict[str, Any]]
) -> None:
    headers = {"x-amz-sns-message-type": HEADERS.get(path, "Notification"), "Content-Type": "text/plain; charset=UTF-8"}
    answer = contract.post(signed_body(sns, read, path, version="2"), headers)
    assert_fields(contract.events(answer), expected)


def test_contract_subscription_confirmation_is_confirmed(
    contract: ContractServer, sns: SnsHost, read: Callable[[str], bytes]
) -> None:
    body = json.dumps(confirmation(sns, read)).encode()
    answer = contract.post(body, {"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["confirmed"] is True
    assert sns.requests[-1].startswith("/confirm?Action=ConfirmSubscription")
    unsubscribe = signed_body(sns, read, "own:http-unsubscribe-confirmation.json")
    assert contract.post(unsubscribe, {"x-amz-sns-message-type": "UnsubscribeConfirmation"}).json()["unsubscribed"]


def test_contract_refusals(contract: ContractServer, sns: SnsHost, read: Callable[[str], bytes]) -> None:
    good = signed_body(sns, read, "own:http-alarm-firing.json")
    assert contract.post(good, secret="not-the-secret").status_code == 401
    assert contract.post(good, sign=False).status_code == 401
    assert (
        contract.post(json.dumps(tampered(sns, load(read, "own:http-alarm-firing.json"))).encode()).status_code == 401
    )
    other_host = sns.sign(load(read, "own:http-alarm-firing.json"), cert="https://sns.evil.example/cert.pem")
    assert contract.post(json.dumps(other_host).encode()).status_code == 401
    plain_http = sns.sign(
        load(read, "own:http-alarm-firing.json"), cert=sns.base.replace("https:", "http:") + "/cert.pem"
    )
    assert contract.post(json.dumps(plain_http).encode()).status_code == 401
    assert contract.post(read("cloudwatch/alarm-sns-lambda-single-metric.json")).status_code == 401  # unsigned
    refused = contract.post(read("sentry/issue-created.json"))
    assert refused.status_code == 422 and "SNS" in refused.json()["error"]


# --- property test ---

FUZZ_HEADERS = st.dictionaries(
    st.just("x-amz-sns-message-type"),
    st.sampled_from(["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation", "", "?"]),
    max_size=1,
)


@pytest.fixture(scope="module")
def pool(fixtures_dir: Path) -> list[Any]:
    paths = [*sorted((fixtures_dir / "aws-sns").glob("*.json")), *sorted((fixtures_dir / "cloudwatch").glob("*.json"))]
    documents = [json.loads(path.read_bytes()) for path in [*paths, *sorted(OWN.glob("*.json"))]]
    # The alarm inside `Message`, decoded, so mutations reach its fields too.
    for document in list(documents):
        for message in [document, *(record.get("Sns", {}) for record in document.get("Records", []))]:
            if isinstance(message.get("Message"), str) and message["Message"].startswith("{"):
                documents.append({**message, "Message": json.loads(message["Message"])})
    return documents


@FUZZ
@given(value=json_values | shaped_values, headers=FUZZ_HEADERS)
def test_random_json_never_escapes(value: Any, headers: dict[str, str]) -> None:
    check(unverified(), headers, encode(value))


@FUZZ
@given(data=st.data(), headers=FUZZ_HEADERS)
def test_mutated_fixtures_never_escape(pool: list[Any], data: st.DataObject, headers: dict[str, str]) -> None:
    document = mutate(data, data.draw(st.sampled_from(pool)))
    if isinstance(document, dict) and isinstance(document.get("Message"), dict | list):
        document["Message"] = json.dumps(document["Message"])  # re-encode the mutated alarm as SNS sends it
    check(unverified(), headers, encode(document))
    # The signature path too, with a host pattern nothing matches so no certificate is ever fetched.
    for checker in (unverified(topic_arns=["*"]), source(cert_host_pattern="(?!)", max_age_seconds=0)):
        try:
            checker.verify(headers, encode(document))
        except SourceError:
            pass
