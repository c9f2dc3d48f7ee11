"""The `google` provider: Gemini's generateContent through the official `google-genai` client.

Structured output is `response_mime_type="application/json"` with the `LlmVerdict` JSON
schema (or that of another `AnswerSchema`) as `response_json_schema` (sent as
`responseJsonSchema`, the API's JSON Schema form of `response_schema`: the older
OpenAPI-subset field has no `additionalProperties`, which the schema needs to stay closed).
Requests go to the `v1beta` API version.

Unlike the other two clients, google-genai retries only when told how, so `HttpRetryOptions`
is spelled out: `max_retries + 1` attempts, exponential backoff from 0.5 s up to 8 s, on
408, 429 and 5xx, and (the client's rule) on timeouts and connection errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from google import genai
from google.genai import types

from liberation_guardian.config.schema import AIAgentConfig
from liberation_guardian.triage.llm.provider import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    RETRY_STATUSES,
    VERDICT,
    AnswerSchema,
    ProviderError,
    Reply,
    Turn,
)

API_VERSION = "v1beta"


class GoogleProvider:
    """Gemini models through the Gemini API."""

    provider = "google"

    def __init__(self, config: AIAgentConfig, api_key: str | None) -> None:
        self.model = config.model
        retry = types.HttpRetryOptions(
            attempts=config.max_retries + 1,
            initial_delay=0.5,
            max_delay=8.0,
            http_status_codes=list(RETRY_STATUSES),
        )
        options = types.HttpOptions(
            base_url=config.base_url,
            api_version=API_VERSION,
            timeout=int(config.timeout_seconds * 1000),
            retry_options=retry,
        )
        self.client = genai.Client(api_key=api_key, http_options=options)
        self.max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
        self.temperature = DEFAULT_TEMPERATURE if config.temperature is None else config.temperature

    def send(self, system: str, turns: Sequence[Turn], answer: AnswerSchema = VERDICT) -> Reply:
        """One generateContent request asking for JSON that fits the answer's schema."""
        contents = [
            types.Content(role="user" if turn.role == "user" else "model", parts=[types.Part(text=turn.text)])
            for turn in turns
        ]
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=self.temperature,
            max_output_tokens=self.max_tokens,
            response_mime_type="application/json",
            response_json_schema=answer.schema,
        )
        try:
            response = self.client.models.generate_content(model=self.model, contents=contents, config=config)
            text = response.text or ""
        except Exception as exc:
            # The client raises its own APIError, but also its transport's (httpx) errors after the last retry,
            # and pydantic's for a malformed reply: all mean "no answer from this provider".
            raise ProviderError(f"google/{self.model}: {type(exc).__name__}: {exc}") from exc
        usage = response.usage_metadata
        if usage is None:
            return Reply(text)
        return Reply(text, usage.prompt_token_count or 0, usage.candidates_token_count or 0)


def build(config: AIAgentConfig, api_key: str | None) -> GoogleProvider:
    """The provider for one `ai_providers` entry."""
    return GoogleProvider(config, api_key)
