"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_learnifier import __version__

INTEGRATION = "Learnifier"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider to Airflow's providers manager (validated against its schema in tests)."""
    return {
        "package-name": "airflow-provider-learnifier",
        "name": "Learnifier",
        "description": "`Learnifier <https://learnifier.com/>`__: enroll people in courses, "
        "follow their progress and report on it.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://learnifier.com/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_learnifier.hooks.learnifier"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_learnifier.operators.nudges",
                    "airflow_provider_learnifier.operators.org_units",
                    "airflow_provider_learnifier.operators.participants",
                    "airflow_provider_learnifier.operators.policy",
                    "airflow_provider_learnifier.operators.projects",
                    "airflow_provider_learnifier.operators.reporting",
                    "airflow_provider_learnifier.operators.user_groups",
                    "airflow_provider_learnifier.operators.users",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_learnifier.sensors.participants",
                    "airflow_provider_learnifier.sensors.projects",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_learnifier.triggers.base",
                    "airflow_provider_learnifier.triggers.events",
                    "airflow_provider_learnifier.triggers.participants",
                    "airflow_provider_learnifier.triggers.projects",
                ],
            }
        ],
        "extra-links": ["airflow_provider_learnifier.links.projects.LearnifierProjectLink"],
        "connection-types": [
            {
                "connection-type": "learnifier",
                "hook-class-name": "airflow_provider_learnifier.hooks.learnifier.LearnifierHook",
                "hook-name": "Learnifier",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "login": "API key", "password": "API secret"},
                    "placeholders": {
                        "host": "https://learnifier.com (leave empty for Learnifier's production API)",
                        "login": "the account's API key",
                        "password": "the account's API secret",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Read timeout per request; connecting waits at most 10 s. Default 60.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "verify": {
                        "label": "CA bundle",
                        "description": "Path of a CA bundle for a private certificate authority. "
                        "Certificates are always verified; leave empty for the system's CAs.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "description": "Retries of a failed request: reads on connection errors, "
                        "timeouts and 429, 500, 502-504; writes only when the connection could not be "
                        "made, or on 429/503 with Retry-After. Default 5.",
                        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
                    },
                    "backoff_factor": {
                        "label": "Backoff factor (seconds)",
                        "description": "First wait between retries; each next one doubles. Default 0.5.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "request_deadline": {
                        "label": "Request deadline (seconds)",
                        "description": "Longest one attempt may take: connect, headers and body, "
                        "redirects included (the timeout bounds each wait for data). Default: "
                        "connect + read timeout.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "max_requests_per_second": {
                        "label": "Max requests per second",
                        "description": "Send at most this many requests per second from one task "
                        "(all its threads). Empty: learnt from Learnifier's 429 answers.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "proxy": {
                        "label": "Proxy URL",
                        "description": "Forward proxy for every request: http://[user:password@]host:port "
                        "(or https://). HTTPS to Learnifier tunnels through it and is verified end to end. "
                        "Hidden like the secret. Empty: no proxy.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "no_proxy": {
                        "label": "No proxy for",
                        "description": "Comma-separated hosts reached without the proxy: names (their "
                        "subdomains too), .domains, IP addresses or networks, optionally :port; * for all.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "proxy_from_environment": {
                        "label": "Proxy from environment",
                        "description": "Take the proxy from HTTPS_PROXY (or ALL_PROXY) and NO_PROXY of the "
                        "worker's and triggerer's environment instead; ignored otherwise.",
                        "schema": {"type": ["boolean", "null"]},
                    },
                    "poll_interval": {
                        "label": "Poll interval (seconds)",
                        "description": "Seconds between two polls of a LearnifierCompletionEventTrigger "
                        "(asset watcher) given no poll_interval. Default 60.",
                        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                },
            }
        ],
    }
