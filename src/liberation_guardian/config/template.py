"""The configuration `liberation-guardian init` writes: works at once, needs no secret."""

from __future__ import annotations

INIT_TEMPLATE = """\
# Liberation Guardian configuration. Every key is described in docs/configuration.md.
# Secrets never go in this file: keys ending in _env name the environment variable
# (or the line in .env beside this file) that holds the value.
core:
  name: "Liberation Guardian"
  environment: "production"
  log_level: "info"
  host: "127.0.0.1"
  port: 8080
  database_url: "sqlite:///data/guardian.db"
  admin_token_env: "GUARDIAN_ADMIN_TOKEN"

integrations:
  observability:
    sentry:
      enabled: true
      # webhook_secret_env: "SENTRY_WEBHOOK_SECRET"   # the integration's Client Secret
    prometheus:                                       # Alertmanager webhook_config -> /webhook/alertmanager
      enabled: true
    grafana:
      enabled: true
      # webhook_secret_env: "GRAFANA_WEBHOOK_SECRET"
  custom:
    generic:
      enabled: true
  notifications:
    console:
      enabled: true
    # slack:
    #   enabled: true
    #   webhook_url_env: "SLACK_WEBHOOK_URL"

decision_rules:
  auto_acknowledge:
    patterns:
      - "Rate limit exceeded.*temporary"
    conditions:
      - frequency: "occasional"
      - user_impact: "single_user"
      - confidence_threshold: 0.8
  auto_fix:
    patterns:
      - "Missing environment variable"
      - "Linting error.*fixable"
    conditions:
      - confidence_threshold: 0.9
      - max_fix_attempts: 3
      - require_tests: true
  escalate:
    patterns:
      - "Database connection failed"
      - "Data corruption"
      - "Security violation"
    conditions:
      - always_escalate: true
      - notification_channels: ["slack", "email"]

# Who hears about what, when: without this section escalations go to the channels above at
# once and everything else to Slack (or the log). See docs/routing.md; try a tree with
# `liberation-guardian route-test severity=critical action=escalate`.
# routing:
#   receivers:
#     team: {channels: [slack]}
#   route:
#     receiver: team
#     group_by: [alertname, service]
#     group_wait: 30s
#     group_interval: 5m
#     repeat_interval: 4h
#     routes:
#       - matchers: ['action="auto_acknowledge"']
#         receiver: none
#       - matchers: ['action="escalate"']
#         receiver: escalation
#         group_wait: 0s
"""
