"""Bearer-token (OIDC / Entra ID) verification: `_oidc.TokenVerifier`, and the gcp and azure sources through the server.

Keys are generated here with `cryptography`, published as a JWKS by a `Recorder` on loopback
(standing in for Google's and Microsoft's key servers), and tokens are minted with PyJWT, so
every check runs against the real key fetch, cache and HTTP answer.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from liberation_guardian.config import load_text
from liberation_guardian.errors import ConfigError, Unauthorized
from liberation_guardian.sources._oidc import KeysUnavailable, TokenVerifier
from liberation_guardian.sources.azure import ACTION_GROUP_APP_ID, AzureConfig, AzureSource
from liberation_guardian.sources.gcp import GcpConfig, GcpSource
from tests.fixtures.recorder import Recorder, Response
from tests.sources._contract import ContractServer, contract_server

PAYLOADS = Path(__file__).parent / "payloads"
GOOGLE = "https://accounts.google.com"
PUSH_AUDIENCE = "https://guardian.example.com/webhook/gcp"
PUSH_ACCOUNT = "alert-push@monitoring-project.iam.gserviceaccount.com"
TENANT = "aaaabbbb-0000-cccc-1111-dddd2222eeee"
ENTRA_AUDIENCE = "api://liberation-guardian"
ENTRA_V1_ISSUER = f"https://sts.windows.net/{TENANT}/"
ENTRA_V2_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
INTRUDER = "intruder@other.iam.gserviceaccount.com"
OTHER_TENANT = "00000000-0000-0000-0000-000000000000"
OTHER_APP = "11111111-2222-3333-4444-555555555555"


class KeyServer:
    """RSA signing keys, served as a JWKS by a recording loopback server, and tokens signed with them."""

    def __init__(self, recorder: Recorder, *kids: str) -> None:
        self.recorder = recorder
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.publish(*kids)

    @property
    def url(self) -> str:
        return f"{self.recorder.url}/oauth2/v3/certs"

    def publish(self, *kids: str) -> None:
        """Serve exactly these key ids from now on (new ones get fresh keys): a rotation."""
        for kid in kids:
            self.keys.setdefault(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.recorder.default = Response(200, {"keys": [_jwk(kid, self.keys[kid]) for kid in kids]})

    def fetches(self) -> int:
        return len(self.recorder.requests)

    def token(self, claims: dict[str, Any], *, kid: str = "k1", key: rsa.RSAPrivateKey | None = None) -> str:
        signer = key or self.keys.get(kid) or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": kid})


def _jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The public half of `key` as a JWK, encoded here independently of the code under test."""
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(numbers.n), "e": b64(numbers.e)}


def google_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a Pub/Sub push token, as Google documents them."""
    now = int(time.time())
    claims = {
        "aud": PUSH_AUDIENCE,
        "azp": "113774264463038321964",
        "email": PUSH_ACCOUNT,
        "email_verified": True,
        "exp": now + 3600,
        "iat": now,
        "iss": GOOGLE,
        "sub": "113774264463038321964",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def entra_claims(**overrides: Any) -> dict[str, Any]:
    """The claims of a v1 Entra ID access token an action group's secure webhook sends."""
    now = int(time.time())
    claims = {
        "aud": ENTRA_AUDIENCE,
        "iss": ENTRA_V1_ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "appid": ACTION_GROUP_APP_ID,
        "idp": ENTRA_V1_ISSUER,
        "oid": "5c2b2e28-7e4a-4f4c-a3a8-0f3f6f2f7a11",
        "roles": ["ActionGroupsSecureWebhook"],
        "sub": "5c2b2e28-7e4a-4f4c-a3a8-0f3f6f2f7a11",
        "tid": TENANT,
        "ver": "1.0",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def keys() -> Iterator[KeyServer]:
    with Recorder() as recorder:
        yield KeyServer(recorder, "k1")


def verifier(keys: KeyServer, **options: Any) -> TokenVerifier:
    return TokenVerifier(
        keys.url, audience=PUSH_AUDIENCE, issuers=(GOOGLE, "accounts.google.com"), audience_setting="oidc_audience",
        **options,
    )  # fmt: skip


# --- TokenVerifier against a JWKS server on loopback ---


def test_valid_token_returns_its_claims_and_fetches_the_keys_once(keys: KeyServer) -> None:
    tokens = verifier(keys)
    assert keys.fetches() == 0  # nothing is fetched before a request needs a key
    for _ in range(3):
        claims = tokens.claims(f"Bearer {keys.token(google_claims())}")
        assert claims["email"] == PUSH_ACCOUNT
    [fetch] = keys.recorder.requests
    assert (fetch.method, fetch.path, fetch.headers["user-agent"]) == ("GET", "/oauth2/v3/certs", "liberation-guardian")


def test_issuer_without_scheme_is_accepted(keys: KeyServer) -> None:
    assert verifier(keys).claims(f"Bearer {keys.token(google_claims(iss='accounts.google.com'))}")["iss"] == (
        "accounts.google.com"
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (
            google_claims(aud="https://x.example/push"),
            "audience 'https://x.example/push' is not the configured oidc_audience",
        ),
        (
            google_claims(iss="https://x.example"),
            "issuer 'https://x.example' is not one of https://accounts.google.com, acc",
        ),
        (google_claims(exp=int(time.time()) - 120, iat=int(time.time()) - 3720), "bearer token expired at "),
        (google_claims(iat=int(time.time()) + 600), "not valid yet"),
        (google_claims(exp=None), "no 'exp' claim"),
        (google_claims(aud=None), "no 'aud' claim"),
    ],
    ids=["audience", "issuer", "expired", "issued-in-future", "no-exp", "no-aud"],
)
def test_claims_that_do_not_check_out_are_unauthorized(keys: KeyServer, claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(Unauthorized, match=re.escape(reason)):
        verifier(keys).claims(f"Bearer {keys.token(claims)}")


def test_expiry_within_the_leeway_passes(keys: KeyServer) -> None:
    verifier(keys).claims(f"Bearer {keys.token(google_claims(exp=int(time.time()) - 5))}")


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic " + base64.b64encode(b"user:secret").decode(), "'Basic', not a Bearer token"),
        ("Bearer", "'Bearer', not a Bearer token"),
        ("Bearer not-a-jwt", "not a JWT"),
    ],
)
def test_malformed_authorization_is_unauthorized_without_fetching(
    keys: KeyServer, authorization: str | None, reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verifier(keys).claims(authorization)
    assert keys.fetches() == 0


def test_other_algorithms_are_refused_before_any_fetch(keys: KeyServer) -> None:
    token = jwt.encode(
        google_claims(), "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(Unauthorized, match="algorithm 'HS256' is not RS256"):
        verifier(keys).claims(f"Bearer {token}")
    assert keys.fetches() == 0


def test_token_without_kid_is_unauthorized(keys: KeyServer) -> None:
    token = jwt.encode(google_claims(), keys.keys["k1"], algorithm="RS256")
    with pytest.raises(Unauthorized, match="no kid"):
        verifier(keys).claims(f"Bearer {token}")


def test_bad_signature_is_unauthorized(keys: KeyServer) -> None:
    forged = keys.token(google_claims(), kid="k1", key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(Unauthorized, match="signature does not verify"):
        verifier(keys).claims(f"Bearer {forged}")


def test_unknown_kid_refetches_once_then_is_unauthorized(keys: KeyServer) -> None:
    tokens = verifier(keys)
    tokens.claims(f"Bearer {keys.token(google_claims())}")
    with pytest.raises(Unauthorized, match="key id 'k9' is not among the signing keys at http://127.0.0.1"):
        tokens.claims(f"Bearer {keys.token(google_claims(), kid='k9')}")
    assert keys.fetches() == 2
    # Made-up key ids do not make every request call the key server.
    for _ in range(3):
        with pytest.raises(Unauthorized, match="key id 'k9'"):
            tokens.claims(f"Bearer {keys.token(google_claims(), kid='k9')}")
    assert keys.fetches() == 2


def test_key_rotation_fetches_the_new_key(keys: KeyServer) -> None:
    tokens = verifier(keys)
    tokens.claims(f"Bearer {keys.token(google_claims())}")
    keys.publish("k1", "k2")
    assert tokens.claims(f"Bearer {keys.token(google_claims(), kid='k2')}")["email"] == PUSH_ACCOUNT
    assert keys.fetches() == 2
    tokens.claims(f"Bearer {keys.token(google_claims())}")  # the old key is still in the refreshed set
    assert keys.fetches() == 2


def test_refresh_interval_spaces_early_fetches(keys: KeyServer) -> None:
    tokens = verifier(keys, refresh_interval=1.0)
    keys.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # made, not yet published
    rotated = f"Bearer {keys.token(google_claims(), kid='k2')}"
    tokens.claims(f"Bearer {keys.token(google_claims())}")
    with pytest.raises(Unauthorized):
        tokens.claims(rotated)
    keys.publish("k1", "k2")
    with pytest.raises(Unauthorized, match="key id 'k2'"):
        tokens.claims(rotated)  # too soon after the last early fetch: the cached set is used
    assert keys.fetches() == 2
    time.sleep(1.05)
    tokens.claims(rotated)
    assert keys.fetches() == 3


def test_a_key_that_is_not_rsa_is_unauthorized(keys: KeyServer) -> None:
    secret = base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()
    keys.recorder.default = Response(200, {"keys": [{"kty": "oct", "kid": "k1", "k": secret, "alg": "HS256"}]})
    with pytest.raises(Unauthorized, match="not an RSA key"):
        verifier(keys).claims(f"Bearer {keys.token(google_claims())}")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Response(503, "unavailable"), "could not fetch the token signing keys from http://127.0.0.1:.*503"),
        (Response(200, "<html>maintenance</html>"), "did not answer a usable key set"),
        (Response(200, {"keys": []}), "did not answer a usable key set"),
        (Response(302, "", headers={"Location": "http://127.0.0.1:1/keys"}), "could not fetch"),
    ],
    ids=["503", "not-json", "no-keys", "redirect"],
)
def test_key_server_failures_are_503_not_401(keys: KeyServer, answer: Response, reason: str) -> None:
    keys.recorder.default = answer
    with pytest.raises(KeysUnavailable, match=reason) as raised:
        verifier(keys).claims(f"Bearer {keys.token(google_claims())}")
    assert raised.value.status == 503 and "retry later" in raised.value.reason


def test_unreachable_key_server_is_503() -> None:
    with Recorder() as recorder:
        keys = KeyServer(recorder, "k1")
    # The server is closed: nothing listens on its port any more.
    with pytest.raises(KeysUnavailable, match="could not fetch the token signing keys .*refused"):
        verifier(keys).claims(f"Bearer {keys.token(google_claims())}")


def test_cached_keys_survive_a_key_server_outage(keys: KeyServer) -> None:
    tokens = verifier(keys)
    tokens.claims(f"Bearer {keys.token(google_claims())}")
    keys.recorder.default = Response(503, "down")
    assert tokens.claims(f"Bearer {keys.token(google_claims())}")["email"] == PUSH_ACCOUNT


# --- configuration ---


def test_gcp_oidc_needs_audience_and_service_account() -> None:
    with pytest.raises(ValidationError, match="oidc_service_account is required"):
        GcpConfig(oidc_audience=PUSH_AUDIENCE)
    with pytest.raises(ValidationError, match="oidc_audience is required when oidc_jwks_url is set"):
        GcpConfig(oidc_jwks_url="https://keys.example.com/certs")
    config = GcpConfig(oidc_audience=PUSH_AUDIENCE, oidc_service_account=PUSH_ACCOUNT)
    assert config.oidc_jwks_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert GcpConfig.model_json_schema()["properties"]["oidc_audience"].get("not_yet_used") is None


def test_gcp_oidc_and_shared_secret_cannot_be_combined() -> None:
    with pytest.raises(ValidationError, match="webhook_secret_env and oidc_audience cannot both be set"):
        GcpConfig(oidc_audience=PUSH_AUDIENCE, oidc_service_account=PUSH_ACCOUNT, webhook_secret_env="S")


@pytest.mark.parametrize(
    "url", ["http://keys.example.com/certs", "ftp://127.0.0.1/certs", "file:///etc/keys.json", "not a url"]
)
def test_jwks_url_must_be_https(url: str) -> None:
    with pytest.raises(ValidationError, match="oidc_jwks_url"):
        GcpConfig(oidc_audience=PUSH_AUDIENCE, oidc_service_account=PUSH_ACCOUNT, oidc_jwks_url=url)
    with pytest.raises(ValidationError, match="entra_jwks_url"):
        AzureConfig(entra_tenant_id=TENANT, entra_audience=ENTRA_AUDIENCE, entra_jwks_url=url)


def test_config_errors_name_the_key_path(tmp_path: Path) -> None:
    document = {"integrations": {"infrastructure": {"gcp": {"oidc_audience": PUSH_AUDIENCE}}}}
    with pytest.raises(
        ConfigError, match=r"integrations\.infrastructure\.gcp \(line 3\): .*oidc_service_account is required"
    ):
        load_text(yaml.safe_dump(document), {}, base_dir=tmp_path)
    document = {"integrations": {"infrastructure": {"azure": {"entra_tenant_id": "contoso.onmicrosoft.com"}}}}
    with pytest.raises(ConfigError, match=r"integrations\.infrastructure\.azure\.entra_tenant_id .*GUID"):
        load_text(yaml.safe_dump(document), {}, base_dir=tmp_path)


def test_azure_entra_needs_tenant_and_audience() -> None:
    with pytest.raises(ValidationError, match="entra_audience is required when entra_tenant_id is set"):
        AzureConfig(entra_tenant_id=TENANT)
    with pytest.raises(ValidationError, match="entra_tenant_id is required when entra_role is set"):
        AzureConfig(entra_role="ActionGroupsSecureWebhook")
    with pytest.raises(ValidationError, match="webhook_secret_env and entra_tenant_id cannot both be set"):
        AzureConfig(entra_tenant_id=TENANT, entra_audience=ENTRA_AUDIENCE, webhook_secret_env="S")


def test_azure_default_keys_url_is_the_tenants() -> None:
    config = AzureConfig(entra_tenant_id=TENANT.upper(), entra_audience=ENTRA_AUDIENCE)
    assert config.keys_url() == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"
    source = AzureSource(config, {})
    assert source.tokens is not None and source.tokens.issuers == (ENTRA_V1_ISSUER, ENTRA_V2_ISSUER)


def test_without_oidc_settings_no_token_is_checked() -> None:
    assert GcpSource(GcpConfig(), {}).tokens is None
    assert AzureSource(AzureConfig(), {}).tokens is None


# --- gcp: Pub/Sub push with authentication, through the real server ---


def push_settings(keys: KeyServer) -> dict[str, Any]:
    return {"oidc_audience": PUSH_AUDIENCE, "oidc_service_account": PUSH_ACCOUNT, "oidc_jwks_url": keys.url}


@pytest.fixture(scope="module")
def google_keys() -> Iterator[KeyServer]:
    with Recorder() as recorder:
        yield KeyServer(recorder, "k1")


def oidc_server(
    name: str, tmp_path_factory: pytest.TempPathFactory, settings: dict[str, Any]
) -> AbstractContextManager[ContractServer]:
    """A server with source `name` checking bearer tokens (`settings`) instead of a shared secret."""
    return contract_server(name, tmp_path_factory, extra={"webhook_secret_env": None, **settings})


@pytest.fixture(scope="module")
def gcp(tmp_path_factory: pytest.TempPathFactory, google_keys: KeyServer) -> Iterator[ContractServer]:
    with oidc_server("gcp", tmp_path_factory, push_settings(google_keys)) as server:
        yield server


@pytest.fixture(scope="module")
def push_body() -> bytes:
    return (PAYLOADS / "gcp" / "pubsub-push-incident-open.json").read_bytes()


def test_gcp_push_with_a_valid_token_is_accepted(gcp: ContractServer, google_keys: KeyServer, push_body: bytes) -> None:
    answer = gcp.post(push_body, bearer(google_keys.token(google_claims())), sign=False)
    assert answer.status_code == 202, answer.text
    [event] = gcp.events(answer)
    assert (event["kind"], event["grouping_key"]) == ("incident", "gcp:0.nrwotmyokd9n")
    assert all(request.path == "/oauth2/v3/certs" for request in google_keys.recorder.requests)


@pytest.mark.parametrize(
    ("claims", "kid", "reason"),
    [
        (
            google_claims(aud="https://x.example/"),
            "k1",
            "audience 'https://x.example/' is not the configured oidc_audience",
        ),
        (
            google_claims(iss="https://securetoken.google.com/p"),
            "k1",
            "issuer 'https://securetoken.google.com/p' is not one of",
        ),
        (google_claims(exp=int(time.time()) - 300, iat=int(time.time()) - 3900), "k1", "bearer token expired at"),
        (google_claims(email=INTRUDER), "k1", f"email '{INTRUDER}' is not the configured oidc_service_account"),
        (google_claims(email=None), "k1", "no 'email' claim"),
        (google_claims(email_verified=False), "k1", "email is not verified"),
        (google_claims(), "unknown-kid", "key id 'unknown-kid' is not among the signing keys"),
    ],
    ids=["audience", "issuer", "expired", "service-account", "no-email", "unverified-email", "unknown-kid"],
)
def test_gcp_push_with_a_bad_token_is_401(
    gcp: ContractServer, google_keys: KeyServer, push_body: bytes, claims: dict[str, Any], kid: str, reason: str
) -> None:
    answer = gcp.post(push_body, bearer(google_keys.token(claims, kid=kid)), sign=False)
    assert answer.status_code == 401
    assert reason in answer.json()["error"]


def test_gcp_push_with_a_forged_signature_is_401(gcp: ContractServer, google_keys: KeyServer, push_body: bytes) -> None:
    forged = google_keys.token(google_claims(), key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    answer = gcp.post(push_body, bearer(forged), sign=False)
    assert answer.status_code == 401 and "signature does not verify" in answer.json()["error"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing Authorization header: a signed bearer token is required (oidc_audience is set)"),
        ({"Authorization": "Basic " + base64.b64encode(b"monitoring:secret").decode()}, "not a Bearer token"),
        ({"Authorization": "Bearer contract-secret-gcp"}, "not a JWT"),
    ],
    ids=["missing", "basic", "shared-secret"],
)
def test_gcp_push_without_a_token_is_401(
    gcp: ContractServer, push_body: bytes, headers: dict[str, str], reason: str
) -> None:
    answer = gcp.post(push_body, headers, sign=False)
    assert answer.status_code == 401 and reason in answer.json()["error"]


def test_gcp_key_rotation_through_the_server(tmp_path_factory: pytest.TempPathFactory, push_body: bytes) -> None:
    with Recorder() as recorder:
        keys = KeyServer(recorder, "2024-old")
        with oidc_server("gcp", tmp_path_factory, push_settings(keys)) as server:
            old = server.post(push_body, bearer(keys.token(google_claims(), kid="2024-old")), sign=False)
            assert old.status_code == 202
            keys.publish("2024-old", "2025-new")
            new = server.post(push_body, bearer(keys.token(google_claims(), kid="2025-new")), sign=False)
            assert new.status_code == 202, new.text
            assert keys.fetches() == 2  # the unknown key id made it fetch the set again


def test_gcp_key_server_down_is_503_with_a_reason(tmp_path_factory: pytest.TempPathFactory, push_body: bytes) -> None:
    with Recorder() as recorder:
        keys = KeyServer(recorder, "k1")
        recorder.default = Response(500, "internal error")
        with oidc_server("gcp", tmp_path_factory, push_settings(keys)) as server:
            answer = server.post(push_body, bearer(keys.token(google_claims())), sign=False)
            assert answer.status_code == 503
            assert answer.json()["status"] == 503
            assert "could not fetch the token signing keys" in answer.json()["error"]
            assert "retry later" in answer.json()["error"]
        assert [request.path for request in recorder.requests] == ["/oauth2/v3/certs"]


def test_gcp_shared_secret_path_still_works(tmp_path_factory: pytest.TempPathFactory, push_body: bytes) -> None:
    with contract_server("gcp", tmp_path_factory) as server:
        assert server.post(push_body).status_code == 202
        assert server.post(push_body, sign=False).status_code == 401


# --- azure: action group secure webhook with an Entra ID token, through the real server ---


@pytest.fixture(scope="module")
def entra_keys() -> Iterator[KeyServer]:
    with Recorder() as recorder:
        yield KeyServer(recorder, "entra-1")


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory, entra_keys: KeyServer) -> Iterator[ContractServer]:
    settings = {
        "entra_tenant_id": TENANT,
        "entra_audience": ENTRA_AUDIENCE,
        "entra_jwks_url": entra_keys.url,
        "entra_role": "ActionGroupsSecureWebhook",
    }
    with oidc_server("azure", tmp_path_factory, settings) as server:
        yield server


@pytest.fixture(scope="module")
def alert_body(read_fixture: Callable[[str], bytes]) -> bytes:
    return read_fixture("azure-monitor/common-schema-log-alert-fired.json")


def test_azure_secure_webhook_v1_token_is_accepted(
    azure: ContractServer, entra_keys: KeyServer, alert_body: bytes
) -> None:
    answer = azure.post(alert_body, bearer(entra_keys.token(entra_claims(), kid="entra-1")), sign=False)
    assert answer.status_code == 202, answer.text
    assert azure.events(answer)[0]["kind"] == "log_alert"


def test_azure_secure_webhook_v2_token_is_accepted(
    azure: ContractServer, entra_keys: KeyServer, alert_body: bytes
) -> None:
    claims = entra_claims(iss=ENTRA_V2_ISSUER, appid=None, azp=ACTION_GROUP_APP_ID, ver="2.0")
    answer = azure.post(alert_body, bearer(entra_keys.token(claims, kid="entra-1")), sign=False)
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (entra_claims(aud="api://someone-else"), "audience 'api://someone-else' is not the configured entra_audience"),
        (
            entra_claims(iss=f"https://sts.windows.net/{OTHER_TENANT}/"),
            f"issuer 'https://sts.windows.net/{OTHER_TENANT}/' is not",
        ),
        (entra_claims(tid=OTHER_TENANT), f"tid '{OTHER_TENANT}' is not the configured entra_tenant_id"),
        (entra_claims(appid=OTHER_APP), f"appid '{OTHER_APP}' is not the configured entra_caller_app_id"),
        (entra_claims(appid=None), "no 'azp' claim"),
        (entra_claims(roles=["Reader"]), "roles ['Reader'] do not include the configured entra_role"),
        (entra_claims(exp=int(time.time()) - 300), "bearer token expired at"),
    ],
    ids=["wrong-audience", "wrong-issuer", "wrong-tenant", "wrong-caller", "no-caller", "missing-role", "expired"],
)
def test_azure_secure_webhook_bad_token_is_401(
    azure: ContractServer, entra_keys: KeyServer, alert_body: bytes, claims: dict[str, Any], reason: str
) -> None:
    answer = azure.post(alert_body, bearer(entra_keys.token(claims, kid="entra-1")), sign=False)
    assert answer.status_code == 401
    assert reason in answer.json()["error"]


def test_azure_secure_webhook_without_token_is_401(azure: ContractServer, alert_body: bytes) -> None:
    answer = azure.post(alert_body, sign=False)
    assert answer.status_code == 401 and "missing Authorization header" in answer.json()["error"]
    answer = httpx.post(azure.url, content=alert_body, headers={"Authorization": "Bearer x.y.z"}, timeout=10)
    assert answer.status_code == 401 and "not a JWT" in answer.json()["error"]
