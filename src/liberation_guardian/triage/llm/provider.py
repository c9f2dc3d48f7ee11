"""What every provider does, and the one exchange they all share: ask, check, repair once.

A provider turns a prompt and the conversation so far into a `Reply` through its vendor's
official client, whose own retry settings handle 408, 429, 5xx, connection errors and
timeouts with exponential backoff (`max_retries`, `timeout_seconds`). Anything that is
still a failure after that is raised as `ProviderError`, which makes the decider try the
next entry of the fallback chain; nothing a provider does raises into the pipeline.

`consult` validates the reply against `LlmVerdict`; an answer that does not fit gets one
repair request quoting the validation error, and a second bad answer is `InvalidReply`.
`ask` is the same exchange for any other answer model and its `AnswerSchema` (the analysis
agent's structured analysis, in `agents/llm.py`).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from liberation_guardian.config.schema import AIAgentConfig
from liberation_guardian.errors import ConfigError
from liberation_guardian.triage.llm.prompt import LlmVerdict, Prompt, repair_request, verdict_schema

DEFAULT_MAX_TOKENS = 1024
DEFAULT_TEMPERATURE = 0.0
# Status codes the official clients retry on; listed where a client needs them spelled out.
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)

# provider name -> (module of this package, the distribution that module needs)
_MODULES = {
    "anthropic": ("anthropic_api", "anthropic"),
    "openai": ("openai_api", "openai"),
    "local": ("openai_api", "openai"),
    "google": ("google_api", "google-genai"),
}


class ProviderError(Exception):
    """A provider gave no usable answer (after its client's retries); the fallback chain goes on."""


class InvalidReply(ProviderError):
    """The model answered twice with something that does not fit `LlmVerdict`."""


@dataclass(frozen=True)
class AnswerSchema:
    """The structure an answer must have, as each vendor's structured output names it.

    `tool` is the forced tool of Anthropic's Messages API, `name` the `json_schema` name of
    OpenAI's response format; `schema` is the JSON schema itself (Gemini takes only that).
    """

    tool: str
    name: str
    description: str
    schema: dict[str, Any]


VERDICT = AnswerSchema("record_verdict", "triage_verdict", "Record the triage verdict for the event.", verdict_schema())

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Turn:
    """One message of the conversation after the system instructions."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class Reply:
    """A model's raw answer (the JSON text) and the tokens the request used."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class Provider(Protocol):
    """One configured model behind one vendor's API."""

    provider: str
    model: str

    def send(self, system: str, turns: Sequence[Turn], answer: AnswerSchema = VERDICT) -> Reply:
        """One request whose answer must fit `answer`; raise `ProviderError` when no answer came."""
        ...


@dataclass(frozen=True)
class Answer(Generic[M]):
    """A validated answer of any model with what it cost."""

    value: M
    input_tokens: int
    output_tokens: int
    requests: int
    latency_ms: int


@dataclass(frozen=True)
class Consultation:
    """A validated answer with what it cost."""

    verdict: LlmVerdict
    input_tokens: int
    output_tokens: int
    requests: int
    latency_ms: int


def consult(provider: Provider, prompt: Prompt) -> Consultation:
    """Ask, validate, and repair once; raise `ProviderError` (or `InvalidReply`) when that yields nothing usable."""
    found = ask(provider, prompt, LlmVerdict, VERDICT)
    return Consultation(found.value, found.input_tokens, found.output_tokens, found.requests, found.latency_ms)


def ask(provider: Provider, prompt: Prompt, model: type[M], answer: AnswerSchema) -> Answer[M]:
    """`consult` for any answer model: ask with its schema, validate, repair once, else `InvalidReply`."""
    started = time.monotonic()
    turns = [Turn("user", prompt.user)]
    tokens_in = tokens_out = 0
    for attempt in (1, 2):
        reply = provider.send(prompt.system, turns, answer)
        tokens_in += reply.input_tokens
        tokens_out += reply.output_tokens
        try:
            value = model.model_validate_json(reply.text)
        except ValidationError as exc:
            error = _short(exc)
            if attempt == 2:
                label = f"{provider.provider}/{provider.model}"
                raise InvalidReply(f"{label}: invalid answer after repair: {error}") from None
            turns += [Turn("assistant", reply.text or "(empty)"), Turn("user", repair_request(error))]
            continue
        latency = int((time.monotonic() - started) * 1000)
        return Answer(value, tokens_in, tokens_out, attempt, latency)
    raise AssertionError("unreachable")  # pragma: no cover


def make_provider(name: str, config: AIAgentConfig, api_key: str | None) -> Provider:
    """The provider for the `ai_providers.<name>` entry; `ConfigError` when its client library is missing."""
    module_name, distribution = _MODULES[config.provider]
    try:
        module = importlib.import_module(f"liberation_guardian.triage.llm.{module_name}")
    except ImportError as exc:
        raise ConfigError(
            f"provider {config.provider} needs the {distribution} package ({exc}); "
            "install it with: pip install 'liberation-guardian[llm]'",
            path=f"ai_providers.{name}.provider",
        ) from None
    provider: Provider = module.build(config, api_key)
    return provider


def _short(exc: ValidationError) -> str:
    """The validation errors as lines a model can act on, without echoing the (possibly long) input."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(part) for part in error["loc"]) or "(whole answer)"
        lines.append(f"- {where}: {error['msg']}")
    return "\n".join(lines)
