"""Connection settings: the base URL and its HTTPS policy, and every extra checked with a clear error."""

from __future__ import annotations

import json

import pytest

from airflow_provider_learnifier.hooks.learnifier import (
    DEFAULT_BASE_URL,
    LearnifierConnectionSettings,
    LearnifierHook,
    build_base_url,
)
from learnifier_simulator import LearnifierSimulator


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        ("", None, None, DEFAULT_BASE_URL),
        (None, None, None, DEFAULT_BASE_URL),
        ("learnifier.example.com", None, None, "https://learnifier.example.com"),
        ("learnifier.example.com", 8443, "api/v1", "https://learnifier.example.com:8443/api/v1"),
        ("https://learnifier.example.com/api/", None, None, "https://learnifier.example.com/api"),
        ("http://127.0.0.1:8080", None, None, "http://127.0.0.1:8080"),
        ("http://127.1.2.3", None, None, "http://127.1.2.3"),
        ("http://localhost:9000/base", None, None, "http://localhost:9000/base"),
        ("http://[::1]:9000", None, None, "http://[::1]:9000"),
    ],
)
def test_base_url_from_host_port_and_schema(host, port, schema, expected):
    assert build_base_url(host, port, schema) == expected


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("http://learnifier.com", "plain http:// is refused"),
        ("http://10.0.0.5", "plain http:// is refused"),
        ("http://localhost.example.com", "plain http:// is refused"),
        ("ftp://learnifier.com", "not a ftp:// URL"),
        ("https://key:secret@learnifier.com", "must not contain credentials"),
        ("https://key:s3cret@", "must not contain credentials"),
        ("https://learnifier.com:99999", "invalid port"),
        ("https://learnifier.com/?debug=1", "query string"),
    ],
)
def test_bad_hosts_are_refused_with_a_clear_error(host, problem):
    with pytest.raises(ValueError, match=problem):
        build_base_url(host)


def test_plain_http_to_a_non_loopback_host_is_refused_before_any_request(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNIFIER_PLAIN",
        json.dumps(
            {"conn_type": "learnifier", "host": "http://learnifier.com", "login": "k", "password": "s3cr3t!"}
        ),
    )
    with pytest.raises(ValueError, match=r"learnifier_plain.*plain http:// is refused"):
        LearnifierHook("learnifier_plain").list_org_units()


def test_plain_http_to_loopback_works(make_hook):
    with LearnifierSimulator(seed="demo", tls=False) as simulator:
        assert simulator.base_url.startswith("http://127.0.0.1:")
        assert make_hook(simulator).list_org_units()


def test_ca_bundle_path_that_does_not_exist_is_a_clear_error(sim, make_hook):
    hook = make_hook(sim, verify="/nonexistent/ca.pem")
    with pytest.raises(ValueError, match=r"CA bundle '/nonexistent/ca\.pem' does not exist"):
        hook.list_org_units()


def test_verification_cannot_be_turned_off(sim, make_hook):
    hook = make_hook(sim, verify=False)
    with pytest.raises(ValueError, match="cannot turn certificate verification off"):
        hook.list_org_units()


@pytest.mark.parametrize(
    ("conn", "problem"),
    [
        ({"login": "", "password": "s3cr3t!"}, "no API key"),
        ({"login": "key", "password": ""}, "no API secret"),
        ({"login": "key", "password": "s3cr3t!", "extra": {"timeout": "soon"}}, "timeout"),
        ({"login": "key", "password": "s3cr3t!", "extra": {"timeout": -1}}, "must be positive"),
        ({"login": "key", "password": "s3cr3t!", "extra": {"max_retries": "many"}}, "max_retries"),
    ],
)
def test_unusable_connections_name_the_problem(conn, problem):
    from airflow.models import Connection

    connection = Connection(conn_id="learnifier_bad", conn_type="learnifier", host="learnifier.com", **conn)
    with pytest.raises(ValueError, match=f"learnifier_bad.*{problem}"):
        LearnifierConnectionSettings.from_connection(connection)


def test_connection_uri_and_json_forms_give_the_same_settings():
    from airflow.models import Connection

    from_uri = Connection(
        conn_id="a",
        uri="learnifier://my%20key:my%2Fsecret@https%3A%2F%2Flms.example.com%2Fapi/"
        "?timeout=30&max_retries=2&backoff_factor=0.25",
    )
    from_json = Connection.from_json(
        json.dumps(
            {
                "conn_type": "learnifier",
                "host": "https://lms.example.com/api",
                "login": "my key",
                "password": "my/secret",
                "extra": {"timeout": 30, "max_retries": 2, "backoff_factor": 0.25},
            }
        ),
        conn_id="b",
    )
    expected = LearnifierConnectionSettings(
        base_url="https://lms.example.com/api",
        key="my key",
        secret="my/secret",
        timeout=(10.0, 30.0),
        max_retries=2,
        backoff_factor=0.25,
    )
    assert LearnifierConnectionSettings.from_connection(from_uri) == expected
    assert LearnifierConnectionSettings.from_connection(from_json) == expected


def test_timeout_extra_forms():
    from airflow.models import Connection

    def timeout_of(value):
        conn = Connection(
            conn_id="t", conn_type="learnifier", login="k", password="s3cr3t!", extra={"timeout": value}
        )
        return LearnifierConnectionSettings.from_connection(conn).timeout

    assert timeout_of(None) == (10.0, 60.0)
    assert timeout_of(5) == (5.0, 5.0)
    assert timeout_of([3, 20]) == (3.0, 20.0)
    assert timeout_of({"connect": 2, "read": 7}) == (2.0, 7.0)
