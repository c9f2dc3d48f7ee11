"""The `anthropic` provider: the Messages API through the official `anthropic` client.

Structured output is a forced tool call: one tool, `record_verdict`, whose `input_schema`
is the `LlmVerdict` schema (or the tool of another `AnswerSchema`), and `tool_choice` naming
it, so the answer arrives as the tool's input. Retries (408, 409, 429, 5xx, connection errors, timeouts; exponential
backoff from 0.5 s, honouring `retry-after`) are the client's own, set by `max_retries`.
The Messages API takes no sampling temperature, so `temperature` is not sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import anthropic
from anthropic.types import MessageParam, ToolChoiceToolParam, ToolParam

from liberation_guardian.config.schema import AIAgentConfig
from liberation_guardian.triage.llm.provider import (
    DEFAULT_MAX_TOKENS,
    VERDICT,
    AnswerSchema,
    ProviderError,
    Reply,
    Turn,
)

TOOL_NAME = VERDICT.tool


class AnthropicProvider:
    """Claude models through the Messages API."""

    provider = "anthropic"

    def __init__(self, config: AIAgentConfig, api_key: str | None) -> None:
        self.model = config.model
        self.max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        self.client = anthropic.Anthropic(
            api_key=api_key,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

    def send(self, system: str, turns: Sequence[Turn], answer: AnswerSchema = VERDICT) -> Reply:
        """One Messages request forcing the answer's tool; the tool input is the answer."""
        tool: ToolParam = {"name": answer.tool, "description": answer.description, "input_schema": answer.schema}
        messages: list[MessageParam] = []
        for turn in turns:
            if turn.role == "user":
                messages.append({"role": "user", "content": turn.text})
            else:
                messages.append({"role": "assistant", "content": turn.text})
        choice: ToolChoiceToolParam = {"type": "tool", "name": answer.tool}
        try:
            message = self.client.messages.create(
                model=self.model,
                max_tokens=self.max_tokens,
                system=system,
                messages=messages,
                tools=[tool],
                tool_choice=choice,
            )
        except anthropic.APIError as exc:
            raise ProviderError(f"anthropic/{self.model}: {type(exc).__name__}: {exc}") from exc
        text = ""
        for block in message.content:
            if block.type == "tool_use" and block.name == answer.tool:
                text = json.dumps(block.input)
                break
            if block.type == "text":
                text += block.text
        usage = message.usage
        return Reply(text, usage.input_tokens or 0, usage.output_tokens or 0)


def build(config: AIAgentConfig, api_key: str | None) -> AnthropicProvider:
    """The provider for one `ai_providers` entry."""
    return AnthropicProvider(config, api_key)
