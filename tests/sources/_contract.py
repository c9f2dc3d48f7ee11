"""The HTTP contract every source passes: its payloads, signed as the tool signs, through the real server.

    @pytest.fixture(scope="module")
    def contract(tmp_path_factory):
        with contract_server("github", tmp_path_factory) as server:
            yield server

    def test_fixture(contract, read_fixture):
        answer = contract.post(read_fixture("github/ping.json"), {"X-GitHub-Event": "ping"})
        assert answer.status_code == 202
        assert_fields(contract.events(answer), [{"kind": "ping", "severity": "info"}])

A module whose source needs nothing more than its secret takes the fixture ready made:
`contract = contract_fixture("github")`.

`post` signs the body with the source's own `sign()` using the contract secret, or with
`secret="wrong"` a wrong one, or not at all with `sign=False`. `events` reads back what the
server stored (through `/api/events`), so the assertions cover parsing, storage and the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any

import httpx
import pytest
import yaml

from liberation_guardian import sources
from liberation_guardian.config import load_text
from liberation_guardian.sources.base import Source
from tests.fixtures.server import RunningServer, running_server

TOKEN = "contract-admin-token"


class ContractServer:
    """A running server with one source enabled and a signing secret configured."""

    def __init__(self, server: RunningServer, name: str, secret: str) -> None:
        self.server = server
        self.name = name
        self.secret = secret
        self.url = f"{server.url}/webhook/{name}"

    def post(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        sign: bool = True,
        secret: str | None = None,
        path: str | None = None,
    ) -> httpx.Response:
        """POST `body` with the tool's headers, signed by the source's `sign()` unless told otherwise."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if sign:
            sent.update(self._signer(secret or self.secret).sign(body))
        url = f"{self.server.url}/webhook/{path}" if path else self.url
        return httpx.post(url, content=body, headers=sent, timeout=10)

    def events(self, answer: httpx.Response) -> list[dict[str, Any]]:
        """The stored events of an accepted answer, in the order of its event ids."""
        assert answer.status_code == 202, answer.text
        ids = answer.json()["event_ids"]
        found: dict[int, dict[str, Any]] = {}
        offset = 0
        while len(found) < len(ids):
            page = httpx.get(
                f"{self.server.url}/api/events",
                params={"source": self.name, "limit": 500, "offset": offset},
                headers={"Authorization": f"Bearer {TOKEN}"},
            ).json()
            if not page["items"]:
                break
            found.update({item["id"]: item for item in page["items"] if item["id"] in ids})
            offset += 500
        return [found[i] for i in ids]

    def _signer(self, secret: str) -> Source:
        cls = sources.registry()[self.name]
        entry = self.server.config.sources[self.name][1]
        secrets = {key: secret for key in entry.secrets}
        return cls(entry.config, secrets)  # type: ignore[arg-type]


@contextmanager
def contract_server(
    name: str, tmp_path_factory: pytest.TempPathFactory, *, extra: dict[str, Any] | None = None
) -> Iterator[ContractServer]:
    """Serve a fresh instance with source `name` enabled, its `*_env` secrets all set to one value."""
    cls = sources.registry()[name]
    tmp = tmp_path_factory.mktemp(f"contract-{name}")
    secret = f"contract-secret-{name}"
    entry: dict[str, Any] = {"enabled": True, "webhook_secret_env": "CONTRACT_SECRET", **(extra or {})}
    document = {
        "core": {"database_url": f"sqlite:///{tmp}/guardian.db", "admin_token_env": "ADMIN"},
        "integrations": {cls.group: {name: entry}},
    }
    env = {"CONTRACT_SECRET": secret, "ADMIN": TOKEN}
    for key, value in entry.items():
        if key.endswith("_env") and isinstance(value, str):
            env.setdefault(value, secret)
    config = load_text(yaml.safe_dump(document), env, base_dir=tmp)
    config.require_secrets()
    with running_server(config) as server:
        yield ContractServer(server, name, secret)


def assert_fields(events: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Each stored event has at least the expected fields with the expected values."""
    assert len(events) == len(expected), [e["title"] for e in events]
    for index, (event, wanted) in enumerate(zip(events, expected, strict=True)):
        got = {key: event.get(key) for key in wanted}
        assert got == wanted, f"event {index}: {got} != {wanted}"


def contract_fixture(name: str, *, extra: dict[str, Any] | None = None) -> Callable[..., Iterator[ContractServer]]:
    """A module-scoped `contract` fixture serving source `name`; assign it to `contract` in the test module."""

    @pytest.fixture(scope="module", name="contract")
    def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractServer]:
        with contract_server(name, tmp_path_factory, extra=extra) as server:
            yield server

    return serve


def assert_refusals(
    contract: ContractServer, body: bytes, other: bytes, reason: str, headers: dict[str, str] | None = None
) -> None:
    """`body` signed with a wrong secret or unsigned is 401; `other` (another tool's payload) is 422 naming `reason`."""
    assert reason, "name what the refusal must say"
    assert contract.post(body, headers, secret="not-the-secret").status_code == 401
    assert contract.post(body, headers, sign=False).status_code == 401
    refused = contract.post(other, headers)
    assert refused.status_code == 422, refused.text
    assert reason in refused.json()["error"]


def assert_stored(events: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """`assert_fields`, with each expected `links` a list of URLs compared with the URLs of the stored links."""
    assert_fields(events, [{key: value for key, value in wanted.items() if key != "links"} for wanted in expected])
    assert [[link["url"] for link in event["links"]] for event in events] == [wanted["links"] for wanted in expected]


def as_stored(expected: dict[str, Any], keys: Iterable[str], *, skip_unset: bool = True) -> dict[str, Any]:
    """The `keys` of an expected event as the events API shows them, enums as their values.

    With `skip_unset`, keys expected to be None are left out: the server fills in its defaults
    (environment, service) for those, so the stored value differs from the parsed one.
    """
    wanted = {key: expected[key] for key in keys if key in expected}
    if skip_unset:
        wanted = {key: value for key, value in wanted.items() if value is not None}
    return {key: value.value if isinstance(value, Enum) else value for key, value in wanted.items()}
