"""The `openai` and `local` providers: Chat Completions through the official `openai` client.

Structured output is `response_format={"type": "json_schema", ...}` with the `LlmVerdict`
schema (or that of another `AnswerSchema`) in strict mode. `local` is the same client
pointed at an OpenAI-compatible server (Ollama, llama.cpp's server, vLLM) by `base_url`;
such servers need no key, but the client insists on one, so a placeholder is sent. Retries
(408, 409, 429, 5xx, connection errors, timeouts; exponential backoff from 0.5 s, honouring
`retry-after`) are the client's own, set by `max_retries`.
"""

from __future__ import annotations

from collections.abc import Sequence

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from liberation_guardian.config.schema import AIAgentConfig
from liberation_guardian.triage.llm.provider import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    VERDICT,
    AnswerSchema,
    ProviderError,
    Reply,
    Turn,
)

# Local servers ignore the key, but the client refuses to start without one.
LOCAL_PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider:
    """OpenAI models, or any OpenAI-compatible server (`local`)."""

    def __init__(self, config: AIAgentConfig, api_key: str | None) -> None:
        self.provider = config.provider
        self.model = config.model
        self.max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        self.temperature = DEFAULT_TEMPERATURE if config.temperature is None else config.temperature
        self.client = openai.OpenAI(
            api_key=api_key or LOCAL_PLACEHOLDER_KEY,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

    def send(self, system: str, turns: Sequence[Turn], answer: AnswerSchema = VERDICT) -> Reply:
        """One Chat Completions request with the answer's schema as response format."""
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {"name": answer.name, "schema": answer.schema, "strict": True},
        }
        messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": system}]
        for turn in turns:
            if turn.role == "user":
                messages.append({"role": "user", "content": turn.text})
            else:
                messages.append({"role": "assistant", "content": turn.text})
        local = self.provider == "local"
        try:
            # OpenAI's own API names the limit max_completion_tokens; the compatible servers know max_tokens.
            completion = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                response_format=response_format,
                max_tokens=self.max_tokens if local else openai.omit,
                max_completion_tokens=openai.omit if local else self.max_tokens,
            )
        except openai.APIError as exc:
            raise ProviderError(f"{self.provider}/{self.model}: {type(exc).__name__}: {exc}") from exc
        text = (completion.choices[0].message.content or "") if completion.choices else ""
        usage = completion.usage
        if usage is None:
            return Reply(text)
        return Reply(text, usage.prompt_tokens or 0, usage.completion_tokens or 0)


def build(config: AIAgentConfig, api_key: str | None) -> OpenAIProvider:
    """The provider for one `ai_providers` entry."""
    return OpenAIProvider(config, api_key)
