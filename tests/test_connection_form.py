"""The connection form the Airflow UI renders for the ``learnifier`` type, on the installed Airflow.

Airflow 2.11's web server builds the form from ``ProvidersManager``; Airflow 3's UI asks the API
server's ``/ui/connections/hook_meta``, which ``HookMetaService`` answers (3.0 and 3.1 from the
hook's classmethods with WTForms' fields mocked out, 3.2 and newer from the provider info). Airflow
3.0 needs WTForms installed for that (its matrix environment has the FAB provider); 3.1 mocks it. Each probe
runs in a fresh interpreter: ``HookMetaService`` replaces WTForms in ``sys.modules`` and caches the
providers it found, which must not leak into other tests.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_learnifier.get_provider_info import get_provider_info
from airflow_provider_learnifier.version_compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS, AIRFLOW_VERSION

REPO = Path(__file__).resolve().parent.parent
CONNECTION_TYPE = get_provider_info()["connection-types"][0]

#: WTForms field classes (Airflow 2.11's form) as the JSON schema types Airflow 3's form uses.
_WTFORMS_TYPES = {
    "IntegerField": "integer",
    "BooleanField": "boolean",
    "StringField": "string",
    "PasswordField": "string",
}


def _form_from_hook_meta() -> dict[str, Any]:
    """Airflow 3: what ``GET /ui/connections/hook_meta`` answers for ``learnifier``."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "learnifier"]
    standard = meta.standard_fields.model_dump() if meta.standard_fields else {}
    standard["schema"] = standard.pop("url_schema", None)
    extra = {}
    for name, param in (meta.extra_fields or {}).items():
        types = param["schema"]["type"]
        types = [types] if isinstance(types, str) else types
        (field_type,) = [t for t in types if t != "null"]
        extra[name] = {
            "title": param["schema"].get("title"),
            "type": field_type,
            "password": param["schema"].get("format") == "password",
        }
    return {
        "hook_name": meta.hook_name,
        "hidden": sorted(field for field, spec in standard.items() if spec and spec["hidden"]),
        "titles": {field: spec["title"] for field, spec in standard.items() if spec and spec["title"]},
        "placeholders": {
            field: spec["placeholder"] for field, spec in standard.items() if spec and spec["placeholder"]
        },
        "extra_fields": extra,
    }


def _form_from_providers_manager() -> dict[str, Any]:
    """Airflow 2.11: what the web server's connection form reads from ``ProvidersManager``."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    behaviour = manager.field_behaviours["learnifier"]
    prefix = "extra__learnifier__"
    extra = {
        key[len(prefix) :]: {
            "title": str(widget.field.args[0]),
            "type": _WTFORMS_TYPES[widget.field.field_class.__name__],
            "password": widget.field.field_class.__name__ == "PasswordField",
        }
        for key, widget in manager.connection_form_widgets.items()
        if key.startswith(prefix)
    }
    return {
        "hook_name": manager.hooks["learnifier"].hook_name,
        "hidden": sorted(behaviour["hidden_fields"]),
        "titles": dict(behaviour["relabeling"]),
        "placeholders": dict(behaviour["placeholders"]),
        "extra_fields": extra,
    }


def probe() -> None:
    """Print the rendered form and the deprecation warnings about our hook, as JSON (subprocess side)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        form = _form_from_hook_meta() if AIRFLOW_V_3_0_PLUS else _form_from_providers_manager()
    form["hook_warnings"] = [str(w.message) for w in caught if "LearnifierHook" in str(w.message)]
    print(json.dumps(form))


@pytest.fixture(scope="module")
def rendered_form() -> dict[str, Any]:
    if AIRFLOW_VERSION.release[:2] == (3, 0) and importlib.util.find_spec("wtforms") is None:
        pytest.skip("Airflow 3.0 builds a hook's form only with WTForms installed (the FAB provider)")
    code = "from tests.test_connection_form import probe; probe()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_standard_fields_are_relabelled_with_placeholders(rendered_form):
    assert rendered_form["hook_name"] == "Learnifier"
    assert rendered_form["titles"] == {"host": "Base URL", "login": "API key", "password": "API secret"}
    behaviour = CONNECTION_TYPE["ui-field-behaviour"]
    assert rendered_form["placeholders"] == behaviour["placeholders"]


def test_schema_and_port_are_hidden(rendered_form):
    assert rendered_form["hidden"] == ["port", "schema"]


def test_every_extra_field_is_shown_with_its_label(rendered_form):
    fields = CONNECTION_TYPE["conn-fields"]
    assert sorted(rendered_form["extra_fields"]) == sorted(fields)
    for name, field in rendered_form["extra_fields"].items():
        assert field["title"] == fields[name]["label"], name


def test_extra_fields_have_input_types_the_hook_parses(rendered_form):
    extra = rendered_form["extra_fields"]
    assert extra["max_retries"]["type"] == "integer"
    assert extra["verify"]["type"] == "string"
    # Below 3.2 the form has no number input: a text field, which the hook parses.
    assert extra["timeout"]["type"] == ("number" if AIRFLOW_V_3_2_PLUS else "string")


def test_the_proxy_is_a_field_hidden_like_the_secret(rendered_form):
    extra = rendered_form["extra_fields"]
    assert extra["proxy"] == {"title": "Proxy URL", "type": "string", "password": True}
    assert extra["no_proxy"] == {"title": "No proxy for", "type": "string", "password": False}
    assert extra["proxy_from_environment"]["type"] == "boolean"
    assert [name for name, field in extra.items() if field["password"]] == ["proxy"]


def test_no_deprecation_warning_about_the_hook(rendered_form):
    assert rendered_form["hook_warnings"] == []
