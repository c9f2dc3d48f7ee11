"""Amazon CloudWatch alarms delivered by an Amazon SNS HTTP/S subscription.

Accepted bodies: the SNS HTTP/S envelope (`Type` Notification, SubscriptionConfirmation or
UnsubscribeConfirmation, header `x-amz-sns-message-type`), and the Lambda invocation form
(`Records[].Sns`, one event per record) that a forwarding function may post unchanged.

Event kinds:

- `alarm`: a Notification whose `Message` is a CloudWatch alarm state change (JSON text with
  `AlarmName` and `NewStateValue`).
- `notification`: any other Notification on the topic; recorded as info, resolved.
- SubscriptionConfirmation: confirmed by `handshake` (GET of `SubscribeURL`), no event.
  UnsubscribeConfirmation: acknowledged without calling anything, no event.

Authentication: the SNS message signature in the body (see `_sns`), always checked unless
`verify_signature: false`: `Signature` over the signed fields with the key of the certificate
at `SigningCertURL` (https, host matching `cert_host_pattern`), `Timestamp` no older than
`max_age_seconds`, `TopicArn` in `topic_arns` when that list is set. With `webhook_secret_env`
set, the request must also carry the secret as Basic password or bearer token (a forwarder
adding the header; SNS sends endpoint-URL credentials only after a `WWW-Authenticate` challenge).

Redaction: a subscription message's `Token` confirms the subscription for whoever holds it. A
confirmation posted directly is answered by `handshake` and never stored; one inside the Lambda
form is stored with its `Token` (also inside `SubscribeURL`) replaced by `[redacted]`.

Status and severity:

| `NewStateValue`     | Status   | Severity                                                     |
|---------------------|----------|--------------------------------------------------------------|
| ALARM               | firing   | tag in the alarm name or description, else `severity` (high) |
| OK                  | resolved | same as ALARM                                                |
| INSUFFICIENT_DATA   | firing   | `insufficient_data_severity` (medium)                        |
| INSUFFICIENT_DATA   | resolved | when `insufficient_data_severity` is info                    |
| other notification  | resolved | info                                                         |

Severity tag: the first `[word]` or `severity=word` (also `severity: word`) in `AlarmName`, then
in `AlarmDescription`, whose word is a severity word (critical, page, error, high, warning,
warn, medium, low, minor, info...), e.g. `[critical] api-5xx-rate`.

Grouping key: `cloudwatch:<AlarmArn>` (else `cloudwatch:<Region>:<AlarmName>`), the same for
ALARM, OK and INSUFFICIENT_DATA of one alarm.

Vendor docs: https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
Fixtures: aws-sns/http-notification.json, aws-sns/http-subscription-confirmation.json,
cloudwatch/alarm-sns-lambda-single-metric.json, cloudwatch/alarm-sns-lambda-metric-math.json
"""

from __future__ import annotations

import re
from base64 import b64encode
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, field_validator

from liberation_guardian.errors import PayloadInvalid, SourceError, Unauthorized
from liberation_guardian.events import Link, NormalizedEvent, Severity, Status
from liberation_guardian.sources._fields import first_text, parse_time, severity_word, string_map, text
from liberation_guardian.sources._redact import redact_json
from liberation_guardian.sources._signatures import require_bearer_or_basic
from liberation_guardian.sources._sns import DEFAULT_HOST_PATTERN, SnsClient, require_fresh
from liberation_guardian.sources.base import Headers, Source, SourceConfig, load_json, load_json_object

Payload = Mapping[str, Any]
_SEVERITY_TAG = re.compile(r"\[\s*([a-z]+)\s*\]|\bseverity\s*[:=]\s*([a-z]+)", re.IGNORECASE)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
_CONSOLES = {"aws": "https://console.aws.amazon.com", "aws-cn": "https://console.amazonaws.cn"}
# Dimensions that name the thing an alarm watches, most specific first.
_SERVICE_DIMENSIONS = (
    "ServiceName", "FunctionName", "ApiName", "DBClusterIdentifier", "DBInstanceIdentifier", "TableName",
    "QueueName", "TopicName", "ClusterName", "AutoScalingGroupName", "LoadBalancer", "InstanceId",
)  # fmt: skip
_SETUP_TYPES = ("SubscriptionConfirmation", "UnsubscribeConfirmation")


class CloudWatchConfig(SourceConfig):
    """Keys accepted under `integrations.infrastructure.cloudwatch` (or `aws-sns`)."""

    severity: Severity = Field(default=Severity.high, description="Severity of an ALARM without a severity tag.")
    insufficient_data_severity: Severity = Field(
        default=Severity.medium,
        description="Severity of INSUFFICIENT_DATA; `info` records it as resolved instead of firing.",
    )
    verify_signature: bool = Field(default=True, description="Check the SNS message signature (leave on).")
    cert_host_pattern: str = Field(
        default=DEFAULT_HOST_PATTERN,
        description="Regular expression the host of SigningCertURL and SubscribeURL must match in full.",
    )
    topic_arns: list[str] = Field(
        default_factory=list, description="Accepted TopicArn values (`*` wildcards allowed); empty accepts any."
    )
    max_age_seconds: int = Field(
        default=3600, ge=0, description="Refuse messages whose signed Timestamp is older than this; 0 disables."
    )
    ca_file: str | None = Field(
        default=None, description="CA bundle for fetching certificates and confirming; default: public CAs."
    )
    http_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout for fetching a certificate or confirming a subscription."
    )

    @field_validator("cert_host_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class CloudWatchSource(Source):
    """CloudWatch alarm notifications through an Amazon SNS HTTP/S subscription."""

    name: ClassVar[str] = "cloudwatch"
    group: ClassVar[str] = "infrastructure"
    aliases: ClassVar[tuple[str, ...]] = ("aws-sns",)
    config_model: ClassVar[type[SourceConfig]] = CloudWatchConfig
    calls_out: ClassVar[bool] = True
    auth_scheme: ClassVar[str] = "SNS message signature (RSA, certificate from an SNS host); optional Basic password"

    def __init__(self, config: SourceConfig, secrets: Mapping[str, str]) -> None:
        super().__init__(config, secrets)
        self.settings = config if isinstance(config, CloudWatchConfig) else CloudWatchConfig()
        self.sns = SnsClient(
            host_pattern=self.settings.cert_host_pattern,
            timeout=self.settings.http_timeout_seconds,
            ca_file=self.settings.ca_file,
        )

    def verify(self, headers: Headers, body: bytes) -> None:
        """Check the Basic/bearer secret when set, then the topic and SNS signature of every message."""
        if self.secret is not None:
            require_bearer_or_basic(self.secret, headers.get("authorization"))
        if not self.settings.verify_signature and not self.settings.topic_arns:
            return
        for message in sns_messages(load_json_object(body)):
            self._require_topic(message)
            if self.settings.verify_signature:
                require_fresh(message, self.settings.max_age_seconds)
                self.sns.check_signature(message)

    def handshake(self, headers: Headers, body: bytes) -> dict[str, Any] | None:
        """Confirm a SubscriptionConfirmation by GET of its SubscribeURL; acknowledge an UnsubscribeConfirmation."""
        try:
            payload = load_json_object(body)
        except SourceError:
            return None  # parse reports it
        kind = payload.get("Type")
        if "Records" in payload or kind not in _SETUP_TYPES:
            return None
        topic = text(payload.get("TopicArn"))
        if kind == "UnsubscribeConfirmation":
            return {"confirmed": False, "unsubscribed": True, "topic_arn": topic}
        return {"confirmed": True, "topic_arn": topic, **self.sns.confirm(payload.get("SubscribeURL"))}

    def sign(self, body: bytes) -> dict[str, str]:
        """The Basic `Authorization` SNS sends for an endpoint URL with credentials; SNS signs the body itself."""
        if self.secret is None:
            return {}
        return {"Authorization": "Basic " + b64encode(f"sns:{self.secret}".encode()).decode()}

    def redact(self, headers: Headers, body: bytes) -> bytes:
        """Replace the confirmation token of subscription messages, wherever it occurs."""
        return redact_json(body, _confirmation_tokens)

    def parse(self, headers: Headers, body: bytes) -> list[NormalizedEvent]:
        """One event per Notification (alarm or other message); none for subscription messages."""
        payload = load_json_object(body)
        header_type = text(headers.get("x-amz-sns-message-type"))
        events = []
        for message in sns_messages(payload):
            kind = text(message.get("Type")) or header_type or "Notification"
            if kind in _SETUP_TYPES:
                continue
            if kind != "Notification":
                raise PayloadInvalid(f"unsupported SNS message Type {kind!r}")
            alarm = _alarm(message.get("Message"))
            events.append(self._alarm_event(alarm, message) if alarm else _notification_event(message))
        return events

    def _require_topic(self, message: Payload) -> None:
        if not self.settings.topic_arns:
            return
        topic = text(message.get("TopicArn")) or ""
        if not any(fnmatchcase(topic, allowed) for allowed in self.settings.topic_arns):
            raise Unauthorized(f"SNS TopicArn {topic!r} is not in topic_arns")

    def _alarm_event(self, alarm: Payload, message: Payload) -> NormalizedEvent:
        state = (text(alarm.get("NewStateValue")) or "").upper()
        severity = _tagged_severity(alarm) or self.settings.severity
        status = Status.resolved if state == "OK" else Status.firing
        if state == "INSUFFICIENT_DATA":
            severity = self.settings.insufficient_data_severity
            status = Status.resolved if severity is Severity.info else Status.firing
        name = text(alarm.get("AlarmName")) or "CloudWatch alarm"
        arn = text(alarm.get("AlarmArn"))
        partition, region = _arn_region(arn)
        trigger = _object(alarm.get("Trigger"))
        dimensions = _dimensions(trigger)
        labels = {
            **dimensions,
            **_present(
                alarm_name=name,
                state=state,
                previous_state=text(alarm.get("OldStateValue")),
                namespace=first_text(trigger.get("Namespace"), *_metric_fields(trigger, "Namespace")),
                metric_name=first_text(trigger.get("MetricName"), *_metric_fields(trigger, "MetricName")),
                region=region,
                account=_scalar_text(alarm.get("AWSAccountId")),
            ),
        }
        return NormalizedEvent(
            source=CloudWatchSource.name,
            kind="alarm",
            status=status,
            severity=severity,
            title=name,
            message=first_text(alarm.get("NewStateReason"), alarm.get("AlarmDescription")) or "",
            service=first_text(*(dimensions.get(key) for key in _SERVICE_DIMENSIONS)),
            grouping_key="cloudwatch:" + (arn or f"{text(alarm.get('Region')) or ''}:{name}"),
            labels=labels,
            links=_console_link(partition, region, name),
            occurred_at=parse_time(alarm.get("StateChangeTime")) or parse_time(message.get("Timestamp")),
            extra=_present(
                description=text(alarm.get("AlarmDescription")),
                alarm_arn=arn,
                region_name=text(alarm.get("Region")),
                comparison=text(trigger.get("ComparisonOperator")),
                threshold=_scalar_text(trigger.get("Threshold")),
                alarm_rule=text(alarm.get("AlarmRule")),
                topic_arn=text(message.get("TopicArn")),
                message_id=text(message.get("MessageId")),
            ),
        )


def sns_messages(payload: Payload) -> list[Payload]:
    """The SNS messages of a body: the envelope itself, or each `Records[].Sns` of the Lambda form."""
    records = payload.get("Records")
    if records is not None:
        if not isinstance(records, list):
            raise PayloadInvalid("`Records` is not a list of SNS records")
        messages: list[Payload] = []
        for index, record in enumerate(records):
            sns = record.get("Sns") if isinstance(record, dict) else None
            if not isinstance(sns, dict):
                raise PayloadInvalid(f"Records[{index}] has no `Sns` object")
            messages.append(sns)
        return messages
    if isinstance(payload.get("Type"), str) and ("Message" in payload or "TopicArn" in payload):
        return [payload]
    raise PayloadInvalid("not an Amazon SNS message: no `Type` with `Message` or `TopicArn`, and no `Records[].Sns`")


def _confirmation_tokens(payload: Any) -> list[str]:
    """The `Token` of every (un)subscribe confirmation in a body; none when the body is no SNS message."""
    if not isinstance(payload, dict):
        return []
    try:
        messages = sns_messages(payload)
    except PayloadInvalid:
        return []
    tokens = [message.get("Token") for message in messages if message.get("Type") in _SETUP_TYPES]
    return [token for token in tokens if isinstance(token, str)]


def _alarm(value: object) -> Payload | None:
    """The CloudWatch alarm a Notification's `Message` holds as JSON text, or None for any other message."""
    if not isinstance(value, str) or not value.lstrip().startswith("{"):
        return None
    try:
        alarm = load_json(value.encode("utf-8"))
    except SourceError:
        return None
    if isinstance(alarm, dict) and text(alarm.get("AlarmName")) and text(alarm.get("NewStateValue")):
        return alarm
    return None


def _notification_event(message: Payload) -> NormalizedEvent:
    """An SNS message that is not a CloudWatch alarm: kept for context, nothing to act on."""
    body = text(message.get("Message")) or ""
    first_line = body.strip().splitlines()[0][:200] if body.strip() else None
    topic = text(message.get("TopicArn"))
    return NormalizedEvent(
        source=CloudWatchSource.name,
        kind="notification",
        status=Status.resolved,
        severity=Severity.info,
        title=first_text(message.get("Subject"), first_line) or "SNS notification",
        message=body,
        labels=_present(topic=topic),
        occurred_at=parse_time(message.get("Timestamp")),
        extra=_present(topic_arn=topic, message_id=text(message.get("MessageId"))),
    )


def _tagged_severity(alarm: Payload) -> Severity | None:
    """The severity a `[word]` or `severity=word` tag in the alarm name or description names."""
    for field in ("AlarmName", "AlarmDescription"):
        for match in _SEVERITY_TAG.finditer(text(alarm.get(field)) or ""):
            if (found := severity_word(match.group(1) or match.group(2))) is not None:
                return found
    return None


def _dimensions(trigger: Payload) -> dict[str, str]:
    """Dimension name to value, from a single-metric trigger and from each metric of a metric-math one."""
    lists = [trigger.get("Dimensions")]
    metrics = trigger.get("Metrics")
    for metric in metrics if isinstance(metrics, list) else []:
        stat = _object(_object(metric).get("MetricStat"))
        lists.append(_object(stat.get("Metric")).get("Dimensions"))
    found: dict[str, str] = {}
    for dimensions in lists:
        for dimension in dimensions if isinstance(dimensions, list) else []:
            pair = string_map(dimension)
            name, value = pair.get("name") or pair.get("Name"), pair.get("value") or pair.get("Value")
            if name and value:
                found.setdefault(name, value)
    return found


def _metric_fields(trigger: Payload, key: str) -> list[object]:
    metrics = trigger.get("Metrics")
    return [
        _object(_object(_object(metric).get("MetricStat")).get("Metric")).get(key)
        for metric in (metrics if isinstance(metrics, list) else [])
    ]


def _arn_region(arn: str | None) -> tuple[str | None, str | None]:
    """Partition and region of `arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`, when they look real."""
    parts = (arn or "").split(":")
    if len(parts) < 4 or not _REGION.fullmatch(parts[3]):
        return None, None
    return parts[1], parts[3]


def _console_link(partition: str | None, region: str | None, name: str) -> list[Link]:
    console = _CONSOLES.get(partition or "")
    if console is None or region is None:
        return []
    url = f"{console}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name, safe='')}"
    return [Link(title="CloudWatch alarm", url=url)]


def _object(value: object) -> Payload:
    return value if isinstance(value, dict) else {}


def _scalar_text(value: object) -> str | None:
    return string_map({"v": value}).get("v")


def _present(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}
