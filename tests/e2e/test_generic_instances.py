"""Named generic endpoints: each its own URL, mapping and secret, no code."""

from __future__ import annotations

from pathlib import Path

import httpx

from liberation_guardian.config import load_text
from tests.fixtures.server import running_server

CONFIG = """
core:
  database_url: "sqlite:///{tmp}/g.db"
  admin_token_env: ADMIN
integrations:
  custom:
    generic:
      enabled: false
      instances:
        billing:
          api_key_env: BILLING_KEY
          mapping:
            title: "alert.headline"
            severity: "alert.level"
            service: "'billing'"
            fingerprint: "alert.code"
          severity_map: {{sev1: critical, sev3: low}}
        backups:
          webhook_secret_env: BACKUP_SECRET
          events: "jobs"
          mapping:
            title: "join(' ', ['backup', name, state])"
            status: "state"
          status_map: {{ok: resolved, failed: firing}}
"""


def test_each_instance_has_its_own_url_mapping_and_secret(tmp_path: Path) -> None:
    env = {"BILLING_KEY": "k-billing", "BACKUP_SECRET": "s-backup", "ADMIN": "t"}
    config = load_text(CONFIG.format(tmp=tmp_path), env, base_dir=tmp_path)
    assert config.missing_secrets == []
    endpoints = config.endpoints()
    assert set(endpoints) == {"generic/billing", "generic/backups"}
    with running_server(config) as server:
        billing = server.url + "/webhook/generic/billing"
        body = {"alert": {"headline": "Invoice run failed", "level": "SEV1", "code": "INV-1"}}
        assert httpx.post(billing, json=body).status_code == 401
        answer = httpx.post(billing, json=body, headers={"X-API-Key": "k-billing"})
        assert answer.status_code == 202, answer.text
        backups = endpoints["generic/backups"]
        payload = b'{"jobs": [{"name": "db", "state": "failed"}, {"name": "files", "state": "ok"}]}'
        answer = httpx.post(server.url + "/webhook/generic/backups", content=payload, headers=backups.sign(payload))
        assert answer.status_code == 202 and answer.json()["accepted"] == 2
        assert httpx.post(server.url + "/webhook/generic", json={"title": "x"}).status_code == 404
        events = httpx.get(server.url + "/api/events", headers={"Authorization": "Bearer t"}).json()["items"]
        by_title = {e["title"]: e for e in events}
        assert by_title["Invoice run failed"]["source"] == "generic/billing"
        assert by_title["Invoice run failed"]["severity"] == "critical"
        assert by_title["Invoice run failed"]["service"] == "billing"
        assert by_title["backup db failed"]["status"] == "firing"
        assert by_title["backup files ok"]["status"] == "resolved"
        assert by_title["backup db failed"]["source"] == "generic/backups"


def test_a_missing_instance_secret_names_its_path(tmp_path: Path) -> None:
    config = load_text(CONFIG.format(tmp=tmp_path), {"BACKUP_SECRET": "s"}, base_dir=tmp_path)
    assert config.missing_secrets == [
        "integrations.custom.generic.instances.billing.api_key_env: environment variable BILLING_KEY is not set "
        "(this integration is enabled)"
    ]
