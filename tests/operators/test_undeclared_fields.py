"""The request fields the hook sends that Learnifier's spec does not declare: a known, documented set.

A server may ignore a field its spec does not declare. Each field listed here is sent on purpose,
and the operators stay correct when it is ignored; a new undeclared field fails this test until
it is listed, with the reason it is safe.
"""

from __future__ import annotations

import inspect
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from airflow_provider_learnifier.hooks.learnifier import LearnifierHook
from learnifier_simulator import seed
from tests.openapi_contract import find_operation, spec_operations

ORG = seed.DEMO_ORG_UNIT_ID

#: ``(METHOD, path key of openapi.json)`` -> the request fields the hook sends there that the spec
#: does not declare.
UNDECLARED_FIELDS: dict[tuple[str, str], set[str]] = {
    # The project's external id. LearnifierCreateProjectOperator reads the created project back;
    # when the id did not take it says so, and later runs find the project by the name rule (the
    # one project of the org unit with this name, from this design, without an external id).
    ("POST", "/orgunits/{orgid}/projects"): {"externalId"},
}

_WRITE_METHODS = ("POST", "PUT", "PATCH")


def _declared(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """The properties a request schema declares, through ``$ref`` and ``allOf``."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _declared(spec, part)
    return names


def test_the_undeclared_request_fields_are_the_known_ones(learnifier_conn, openapi_spec):
    sim = learnifier_conn
    given: dict[str, set[str]] = defaultdict(set)

    def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        given[method.__name__] |= set(kwargs)
        return method(*args, **kwargs)

    with LearnifierHook() as hook:
        user_fields = {
            "external_id": "E-1",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "display_name": "Ada L",
            "locale": "en",
            "home_org": ORG,
            "hard_lock": False,
        }
        user = call(hook.create_user, primary_email="ada@example.com", **user_fields)
        call(hook.update_user, user, primary_email="ada@example.org", **{**user_fields, "first_name": "A"})
        unit_fields = {"external_id": "u-1", "client_number": "C-9", "country": "se", "caller": user}
        unit = call(hook.create_org_unit, display_name="Unit", parent=ORG, **unit_fields)["ouId"]
        call(hook.update_org_unit, unit, display_name="Unit 2", parent=ORG, **unit_fields)
        texts = {
            "country": "SE",
            "locale": "sv",
            "note": "n",
            "timezone": "Europe/Stockholm",
            "user_description": "d",
            "user_title": "t",
        }
        design = seed.CODE_OF_CONDUCT_DESIGN_ID
        project = call(
            hook.create_project, ORG, name="P", design_id=design, external_id="p-1", created_by=user, **texts
        )["id"]
        call(hook.update_project, ORG, project, name="P2", status="ACTIVATED", **texts)
        participant = call(hook.add_participant, ORG, project, user_id=user, external_id="pp-1")
        call(hook.add_participant, ORG, project, email="bob@example.com")
        call(hook.activate_participant, ORG, project, participant)
        call(hook.create_login_link, ORG, project, participant)
        group = call(hook.create_user_group, ORG, name="G", parent=seed.DEMO_USER_GROUP_ID)
        call(hook.add_user_group_member, ORG, group, user)

    # Every keyword the write methods take was given, so every field they can send was sent.
    for name, keywords in given.items():
        parameters = inspect.signature(getattr(LearnifierHook, name)).parameters.values()
        optional = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
        assert optional <= keywords, f"{name}: also call it with {sorted(optional - keywords)}"

    undeclared: dict[tuple[str, str], set[str]] = {}
    covered = set()
    for exchange in sim.exchanges:
        if exchange.method not in _WRITE_METHODS:
            continue
        assert exchange.status is not None and exchange.status < 300, exchange
        operation = find_operation(openapi_spec, exchange.method, exchange.path)
        covered.add(operation.key)
        if not exchange.body:
            continue
        request_body = operation.definition.get("requestBody")
        declared = (
            set()
            if request_body is None
            else _declared(openapi_spec, request_body["content"]["application/json"]["schema"])
        )
        extra = set(json.loads(exchange.body)) - declared
        if extra:
            undeclared.setdefault(operation.key, set()).update(extra)

    # Every write operation of the spec was exercised.
    assert covered == {op.key for op in spec_operations(openapi_spec) if op.method in _WRITE_METHODS}
    assert undeclared == UNDECLARED_FIELDS
