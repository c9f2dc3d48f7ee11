"""The pydantic models of `liberation-guardian.yml`; defaults live here and nowhere else.

The tree mirrors the YAML. `integrations` is kept as plain mappings here because each
entry is validated by the config model of the source or channel module that owns it
(see `load.py`); that way adding a source never edits this file.

A field marked `not_yet_used` is accepted and validated but has no effect yet; the
loader lists such keys at start-up so nothing in a config file is silently ignored.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from liberation_guardian.config.routing import RoutingConfig
from liberation_guardian.events import Frequency, UserImpact

NOT_YET_USED: dict[str, Any] = {"not_yet_used": True}


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid")


class CoreConfig(Strict):
    """`core`: the instance itself."""

    name: str = Field(default="Liberation Guardian", description="Shown in every notification.")
    environment: Literal["development", "staging", "production"] = Field(
        default="production", description="Environment assumed for events that do not name one."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Least severe log level written (JSON lines on stderr)."
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port `serve` listens on.")
    database_url: str = Field(
        default="sqlite:///data/guardian.db",
        description="SQLAlchemy URL; relative SQLite paths are relative to the config file's folder.",
    )
    max_body_bytes: int = Field(default=1024 * 1024, gt=0, description="Largest webhook body accepted (413).")
    admin_token_env: str = Field(
        default="GUARDIAN_ADMIN_TOKEN", description="Variable holding the bearer token for /api/*."
    )
    public_url: str | None = Field(
        default=None, description="Base URL of this instance, used for incident links in notifications."
    )


class AIAgentConfig(Strict):
    """One entry of `ai_providers`: a model behind one provider's API (see docs/ai-providers.md).

    Only `triage_agent`, `analysis_agent` and the entries their `fallback` lists name are
    used; they are asked only about cases no rule, pattern or offline classifier placed,
    never about critical ones, only with masked text, and never inside the processing
    transaction (see docs/agents.md).
    """

    provider: Literal["anthropic", "openai", "google", "local"] = Field(
        description="Whose API to call; `local` is any OpenAI-compatible server (Ollama, llama.cpp, vLLM)."
    )
    model: str = Field(min_length=1, description="Model name as the provider spells it.")
    api_key_env: str | None = Field(
        default=None,
        description="Variable holding the API key; required except for `local`. Unset at start-up: entry skipped.",
    )
    base_url: str | None = Field(
        default=None, description="API base URL; required for `local` (e.g. `http://127.0.0.1:11434/v1`)."
    )
    max_tokens: int | None = Field(default=None, gt=0, description="Most tokens a reply may use (default 1024).")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature (default 0).")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Timeout of one HTTP request.")
    max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries, with exponential backoff, after a 408, 429, 5xx or timeout."
    )
    max_tokens_per_hour: int | None = Field(
        default=None, gt=0, description="Token budget over the last hour; once spent, this entry is skipped."
    )
    cost_per_1k_tokens: float | None = Field(
        default=None, ge=0, description="Price of 1,000 tokens, for `max_cost_per_hour`."
    )
    max_cost_per_hour: float | None = Field(
        default=None, gt=0, description="Cost budget over the last hour; needs `cost_per_1k_tokens`."
    )
    fallback: list[str] = Field(
        default_factory=list,
        description="Entries of `ai_providers` to try in order when this one fails or is over budget.",
    )
    mask_patterns: dict[str, str] = Field(
        default_factory=dict,
        description="Extra regular expressions to mask before text is sent, by placeholder name (`<name-1>`).",
    )

    @field_validator("mask_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for name, pattern in patterns.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"placeholder name {name!r} must be lower-case letters, digits and _")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name}: not a valid regular expression: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _complete(self) -> AIAgentConfig:
        if self.provider == "local" and not self.base_url:
            raise ValueError("base_url is required for provider local (the OpenAI-compatible server)")
        if self.provider != "local" and not self.api_key_env:
            raise ValueError(f"api_key_env is required for provider {self.provider}")
        if self.max_cost_per_hour is not None and self.cost_per_1k_tokens is None:
            raise ValueError("max_cost_per_hour needs cost_per_1k_tokens")
        return self


TRIAGE_AGENT = "triage_agent"
ANALYSIS_AGENT = "analysis_agent"


def idle_ai_agents(agents: dict[str, AIAgentConfig]) -> list[str]:
    """Entries of `ai_providers` the running service never consults (`coding_agent`, for one).

    `triage_agent` (a second opinion on cases the offline chain could not place) and
    `analysis_agent` (root-cause analysis of unknown problems) are asked by the agent loop,
    outside the processor's write transaction, and so are the entries their `fallback` lists name.
    """
    used: set[str] = set()
    for name in (TRIAGE_AGENT, ANALYSIS_AGENT):
        if name in agents:
            used |= {name, *agents[name].fallback}
    return [name for name in agents if name not in used]


class Conditions(Strict):
    """Accepts conditions as a list of one-key mappings (`- frequency: occasional`) or as one mapping."""

    @model_validator(mode="before")
    @classmethod
    def _merge_list(cls, value: Any) -> Any:
        if isinstance(value, list):
            merged: dict[str, Any] = {}
            for index, item in enumerate(value):
                if not isinstance(item, dict):
                    raise ValueError(f"item {index} must be a mapping like `- frequency: occasional`")
                merged.update(item)
            return merged
        return value


class AutoAcknowledgeConditions(Conditions):
    """When a matching incident may be acknowledged without telling anyone."""

    frequency: Frequency = Field(
        default=Frequency.occasional,
        description="Acknowledge only while the incident recurs at most this often.",
    )
    user_impact: UserImpact = Field(
        default=UserImpact.single_user, description="Acknowledge only while at most this many users are hit."
    )
    confidence_threshold: float = Field(default=0.8, ge=0, le=1, description="Least rule-match confidence to act on.")


class AutoFixConditions(Conditions):
    """When a matching incident gets a fix proposed."""

    confidence_threshold: float = Field(default=0.9, ge=0, le=1, description="Least rule-match confidence to act on.")
    max_fix_attempts: int = Field(
        default=3, ge=1, description="Fixes proposed for one incident before a human takes over."
    )
    require_tests: bool = Field(default=True, description="A proposed fix must pass the project's tests.")


class EscalateConditions(Conditions):
    """How a matching incident is escalated."""

    always_escalate: bool = Field(default=True, description="A match escalates whatever else is true.")
    notification_channels: list[str] = Field(
        default_factory=lambda: ["email", "sms", "slack"],
        description="Channels an escalation goes to (those enabled); the console log always gets it too.",
    )


class PatternRule(Strict):
    """Regular expressions matched (case-insensitively) against an event's title and message."""

    patterns: list[str] = Field(
        default_factory=list, description="Regular expressions matched case-insensitively against title and message."
    )

    @field_validator("patterns")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        for index, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {index} {pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


class AutoAcknowledgeRule(PatternRule):
    """`decision_rules.auto_acknowledge`."""

    conditions: AutoAcknowledgeConditions = Field(default_factory=AutoAcknowledgeConditions)


class AutoFixRule(PatternRule):
    """`decision_rules.auto_fix`."""

    conditions: AutoFixConditions = Field(default_factory=AutoFixConditions)


class EscalateRule(PatternRule):
    """`decision_rules.escalate`."""

    conditions: EscalateConditions = Field(default_factory=EscalateConditions)


class DecisionRules(Strict):
    """`decision_rules`: what the configured rules decide before any other decider."""

    auto_acknowledge: AutoAcknowledgeRule = Field(default_factory=AutoAcknowledgeRule)
    auto_fix: AutoFixRule = Field(default_factory=AutoFixRule)
    escalate: EscalateRule = Field(default_factory=EscalateRule)


class KnowledgeBaseConfig(Strict):
    """`learning.knowledge_base`."""

    retention_days: int = Field(
        default=365,
        ge=1,
        description=(
            "Days an incident's history (events, payloads, decisions, feedback, resolutions) is kept after it is "
            "resolved; purged hourly and by `kb purge`. Open incidents and useful patterns are kept."
        ),
    )
    pattern_confidence_threshold: float = Field(
        default=0.7,
        ge=0,
        le=1,
        description="Patterns below this confidence do not auto-acknowledge or auto-fix; they are investigated.",
    )
    min_occurrences_for_pattern: int = Field(
        default=3,
        ge=1,
        description=(
            "Distinct incidents sharing one message template, none recognized by a known pattern, "
            "before that template is proposed as a pattern for review."
        ),
    )


class FeedbackLoopConfig(Strict):
    """`learning.feedback_loop`."""

    enabled: bool = Field(
        default=True, description="Learn from feedback: a verdict on a pattern's decision confirms or rejects it."
    )
    human_feedback_weight: float = Field(
        default=2.0,
        ge=0,
        description="Weight of a human correction against one outcome.",
    )
    outcome_tracking_enabled: bool = Field(
        default=True,
        description=(
            "Learn from what became of a pattern's decisions: resolved without coming back, acknowledged, "
            "recurred, or a fix that did not hold."
        ),
    )


class CommunitySharingConfig(Strict):
    """`learning.community_sharing`."""

    enabled: bool = Field(default=False, description="Allow `kb export` and `kb import` of pattern packs.")
    anonymize_data: bool = Field(
        default=True,
        description="Strip URLs, emails, IPs, host names and known service and repository names from exports.",
    )
    share_successful_patterns: bool = Field(
        default=True,
        description="Export only patterns that worked (a success or confirmation, confidence at the threshold).",
    )


class LearningConfig(Strict):
    """`learning`."""

    knowledge_base: KnowledgeBaseConfig = Field(default_factory=KnowledgeBaseConfig)
    feedback_loop: FeedbackLoopConfig = Field(default_factory=FeedbackLoopConfig)
    community_sharing: CommunitySharingConfig = Field(default_factory=CommunitySharingConfig)


class AnalysisConfig(Strict):
    """`analysis`: what the analysis agent reads around an incident (see docs/agents.md)."""

    enabled: bool = Field(
        default=True, description="Store an offline analysis, and a specialist's plan, for each incident worth one."
    )
    correlation_window_minutes: int = Field(
        default=30,
        ge=1,
        le=1440,
        description="How long before an incident deploys, CI failures and configuration changes count as suspects.",
    )
    related_incident_hours: int = Field(
        default=24, ge=1, le=720, description="How recently seen other incidents of the same service count as related."
    )


class GroupingConfig(Strict):
    """`grouping`: how repeats are counted into the frequency classes the rules use."""

    window_minutes: int = Field(default=60, ge=1, description="Window over which recurrences are counted.")
    frequent_threshold: int = Field(
        default=10, ge=2, description="Occurrences within the window from which an incident is `frequent`."
    )


class DeliveryConfig(Strict):
    """`delivery`: how notifications are retried."""

    max_attempts: int = Field(default=8, ge=1, description="Attempts before a delivery is marked dead.")
    initial_backoff_seconds: float = Field(default=2.0, gt=0, description="Wait before the second attempt.")
    max_backoff_seconds: float = Field(default=300.0, gt=0, description="Longest wait between attempts.")
    fallback_channel: str = Field(
        default="console",
        description="Channel told when a message is given up (dead-lettered or refused), so no failure is silent.",
    )


class TemplatesConfig(Strict):
    """`templates`: notification wording from your own Jinja2 templates (see docs/channels.md, Templates)."""

    dir: str | None = Field(
        default=None,
        min_length=1,
        description="Folder whose `*.j2` files replace the built-in templates of the same name; "
        "relative to the config file's folder. Compiled at load: a syntax error names the file and line.",
    )


class Settings(Strict):
    """The whole `liberation-guardian.yml`."""

    core: CoreConfig = Field(default_factory=CoreConfig)
    ai_providers: dict[str, AIAgentConfig] = Field(
        default_factory=dict,
        description=(
            "LLM providers by agent name: `triage_agent` gives a second opinion on cases nothing else placed, "
            "`analysis_agent` analyses unknown problems (with their `fallback` entries). Other entries are "
            "accepted, not yet used. See docs/ai-providers.md and docs/agents.md."
        ),
    )
    integrations: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    decision_rules: DecisionRules = Field(default_factory=DecisionRules)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    grouping: GroupingConfig = Field(default_factory=GroupingConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)

    @field_validator("ai_providers")
    @classmethod
    def _fallbacks_exist(cls, agents: dict[str, AIAgentConfig]) -> dict[str, AIAgentConfig]:
        for name, agent in agents.items():
            for other in agent.fallback:
                if other == name or other not in agents:
                    known = ", ".join(sorted(set(agents) - {name})) or "none"
                    raise ValueError(f"{name}.fallback: {other!r} is not another entry of ai_providers ({known})")
        return agents

    @field_validator("integrations", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        # `integrations:` with nothing under it, or a group with nothing under it, reads as null.
        if value is None:
            return {}
        if isinstance(value, dict):
            return {group: ({} if entries is None else entries) for group, entries in value.items()}
        return value
