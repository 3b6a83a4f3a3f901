"""Hook for Learnifier's Admin API: :class:`LearnifierHook`, one method per API operation.

Every method goes through the hook's one request entry point, ``_request``; the transport under
it (connection settings, TLS, deadlines, retries, error mapping, redaction) lives in the private
package :mod:`~airflow_provider_learnifier.hooks._transport`. ``docs/guides/hook.md`` shows the
hook in use; ``docs/connection.md`` the connection; ``docs/reliability.md`` how requests fail.

Importing this module stays cheap: ``requests`` is imported when the hook makes its session.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

# Every exception the hook raises stays importable from here, as before the transport moved out.
from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID
from airflow_provider_learnifier.exceptions import (  # noqa: F401
    LearnifierActivationError,
    LearnifierAuthError,
    LearnifierConflictError,
    LearnifierConnectionError,
    LearnifierError,
    LearnifierNotFoundError,
    LearnifierRateLimitError,
    LearnifierRefusedError,
    LearnifierResponseError,
    LearnifierServerError,
    LearnifierValidationError,
)
from airflow_provider_learnifier.hooks._transport import answers as transport_answers
from airflow_provider_learnifier.hooks._transport import retries as transport_retries
from airflow_provider_learnifier.hooks._transport import settings as transport_settings
from airflow_provider_learnifier.hooks._transport.answers import (
    JsonObject,
    expect,
    header_bool,
    header_count,
    id_from_location,
    object_list,
    read_header,
)
from airflow_provider_learnifier.hooks._transport.attempt import ApiRequest, try_once
from airflow_provider_learnifier.hooks._transport.redaction import (
    AIRFLOW_CALLS,
    SCRUBBER,
    hide_credentials,
    mask_in_task_logs,
)
from airflow_provider_learnifier.hooks._transport.retries import retry_delay
from airflow_provider_learnifier.hooks._transport.settings import (
    LearnifierConnectionSettings,
    build_base_url,
    is_loopback_host,
)
from airflow_provider_learnifier.hooks.rate_gate import RateGate, shared_rate_gate
from airflow_provider_learnifier.ids import check_id, id_problem, int_like
from airflow_provider_learnifier.version_compat import BaseHook

if TYPE_CHECKING:
    import requests


# In reading order, which the API reference follows.
__all__ = [  # noqa: RUF022
    "LearnifierHook",
    "UsersPage",
    "JsonObject",
    "LearnifierConnectionSettings",
    "build_base_url",
    "is_loopback_host",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_BACKOFF_FACTOR",
    "MAX_BACKOFF_SECONDS",
    "MAX_RETRY_AFTER_SECONDS",
    "MAX_API_MESSAGE",
    "MAX_REDIRECTS",
]

# The defaults and limits users tune against: defined by the transport, documented where users
# import them from.
#: Learnifier's production API, used when the connection's host is empty.
DEFAULT_BASE_URL = transport_settings.DEFAULT_BASE_URL
#: Seconds to wait for a connection, then for an answer, unless the connection's extras say otherwise.
DEFAULT_TIMEOUT = transport_settings.DEFAULT_TIMEOUT
DEFAULT_MAX_RETRIES = transport_settings.DEFAULT_MAX_RETRIES
DEFAULT_BACKOFF_FACTOR = transport_settings.DEFAULT_BACKOFF_FACTOR
#: The longest backoff between two attempts, before jitter.
MAX_BACKOFF_SECONDS = transport_retries.MAX_BACKOFF_SECONDS
#: A ``Retry-After`` longer than this is not waited out in the task: the error is raised instead.
MAX_RETRY_AFTER_SECONDS = transport_retries.MAX_RETRY_AFTER_SECONDS
#: Learnifier's error ``message`` is cut to this many characters in errors, logs and summaries.
MAX_API_MESSAGE = transport_answers.MAX_API_MESSAGE
#: The most redirects ``get_user_picture`` follows (the others are never followed).
MAX_REDIRECTS = transport_settings.MAX_REDIRECTS

#: What every project answer must hold for callers to act on the project.
_PROJECT_KEYS = ("id", "orgId")


def _segment(name: str, value: str | int) -> str:
    """Check one path value (:func:`~airflow_provider_learnifier.ids.check_id`) and percent-encode it."""
    return quote(check_id(name, value), safe="")


def _path(*parts: str | tuple[str, str | int]) -> str:
    """Join literal segments and ``(name, value)`` id segments into a request path."""
    return "".join("/" + (part if isinstance(part, str) else _segment(*part)) for part in parts)


def _fields(**values: Any) -> JsonObject:
    """Build a JSON body from keyword arguments, leaving out the ones that are ``None``."""
    return {name: value for name, value in values.items() if value is not None}


def _participants_path(
    org_id: str | int, project_id: str | int, participant_id: str | int | None = None
) -> str:
    parts: list[str | tuple[str, str | int]] = [
        "orgunits",
        ("org_id", org_id),
        "projects",
        ("project_id", project_id),
        "participants",
    ]
    if participant_id is not None:
        parts.append(("participant_id", participant_id))
    return _path(*parts)


def _user_fields(
    *,
    primary_email: str | None,
    external_id: str | None,
    first_name: str | None,
    last_name: str | None,
    display_name: str | None,
    locale: str | None,
    home_org: str | int | None,
    hard_lock: bool | None,
) -> JsonObject:
    return _fields(
        primaryEmail=primary_email,
        externalId=external_id,
        firstName=first_name,
        lastName=last_name,
        displayName=display_name,
        locale=locale,
        homeOrg=int_like(home_org),
        hardLock=hard_lock,
    )


def _non_blank_text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _non_negative(name: str, value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
    return value


@dataclass(frozen=True)
class UsersPage:
    """One page of ``GET /users`` and its paging headers (``None`` where a header was absent).

    :param users: the users of the page.
    :param more: ``X-More``: whether there are more users after this page.
    :param offset: ``X-Offset``: the offset the server used.
    :param size: ``X-Size``: how many users it says it returned.
    :param limit: ``X-Limit``: the limit it used, which may be smaller than the one asked for.
    """

    users: list[JsonObject]
    more: bool | None = None
    offset: int | None = None
    size: int | None = None
    limit: int | None = None

    def problem(self, asked_offset: int) -> str | None:
        """Say how the headers contradict the page, when they do."""
        if self.offset is not None and self.offset != asked_offset:
            return f"X-Offset is {self.offset}, not the {asked_offset} asked for"
        if self.size is not None and self.size != len(self.users):
            return f"X-Size says {self.size} users, the page holds {len(self.users)}"
        if self.limit is not None and len(self.users) > self.limit:
            return f"the page holds {len(self.users)} users, more than its X-Limit {self.limit}"
        if self.more and not self.users:
            return "X-More says there are more users, but the page is empty"
        return None


class LearnifierHook(BaseHook):
    """Interact with Learnifier's Admin API.

    The connection's login is the account's API key and its password the API secret. Its host is
    a hostname or a base URL with a path (empty: :data:`DEFAULT_BASE_URL`). Extras: ``timeout``
    (read seconds, or ``[connect, read]``), ``verify`` (``true`` or a CA bundle path), ``max_retries``,
    ``backoff_factor``, ``request_deadline`` (seconds one attempt may take, connect to last byte),
    ``max_requests_per_second``, and ``proxy``, ``no_proxy`` and ``proxy_from_environment`` (a
    forward proxy: :mod:`~airflow_provider_learnifier.hooks._transport.proxy`, ``docs/connection.md``).

    Every hook verifying with the same CA bundle shares one TLS context in the process.
    Every hook of one account (the same base URL and API key) in the process shares one
    :class:`~airflow_provider_learnifier.hooks.rate_gate.RateGate` (see
    :func:`~airflow_provider_learnifier.hooks.rate_gate.shared_rate_gate`): the refused request
    waits its ``Retry-After`` (at the first 429 all their threads do), and the others go on at
    the rate Learnifier admitted.

    :param learnifier_conn_id: the Airflow connection to use.
    :param pool_maxsize: how many connections to keep open to Learnifier, for callers that send
        requests from several threads.
    """

    conn_name_attr = "learnifier_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "learnifier"
    hook_name = "Learnifier"

    def __init__(self, learnifier_conn_id: str = default_conn_name, *, pool_maxsize: int = 32) -> None:
        super().__init__()
        self.learnifier_conn_id = learnifier_conn_id
        self.pool_maxsize = pool_maxsize
        self._settings: LearnifierConnectionSettings | None = None
        self._session: requests.Session | None = None
        self._rate_gate: RateGate | None = None
        # Settings and session are made on first use, possibly from several threads at once.
        self._lazy_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learnifier_conn_id={self.learnifier_conn_id!r})"

    @property
    def settings(self) -> LearnifierConnectionSettings:
        """The checked settings of the hook's connection (fetched once)."""
        if self._settings is None:
            with self._lazy_lock:
                if self._settings is None:
                    with AIRFLOW_CALLS:
                        connection = self.get_connection(self.learnifier_conn_id)
                    settings = LearnifierConnectionSettings.from_connection(connection)
                    hide_credentials(settings)
                    self._settings = settings
        return self._settings

    @property
    def rate_gate(self) -> RateGate:
        """The rate gate pacing this hook's requests, shared by every hook of the account in the process."""
        settings = self.settings
        if self._rate_gate is None:
            with self._lazy_lock:
                if self._rate_gate is None:
                    self._rate_gate = shared_rate_gate(
                        settings.base_url,
                        settings.key,
                        settings.max_requests_per_second,
                        max_pause=MAX_RETRY_AFTER_SECONDS,
                    )
        return self._rate_gate

    @property
    def base_url(self) -> str:
        """The API base URL this hook talks to."""
        return self.settings.base_url

    @property
    def session(self) -> requests.Session:
        """The hook's one HTTP session: authentication, headers, TLS verification, connection pool."""
        settings = self.settings
        if self._session is None:
            with self._lazy_lock:
                if self._session is None:
                    from airflow_provider_learnifier.hooks._transport.session import make_session

                    self._session = make_session(settings, pool_maxsize=self.pool_maxsize)
        return self._session

    def get_conn(self) -> requests.Session:
        """Return the hook's HTTP session."""
        return self.session

    def close(self) -> None:
        """Close the HTTP session and its connections; the next request opens a new one."""
        with self._lazy_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def __enter__(self) -> LearnifierHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one read-only call; never raises.

        :return: ``(True, message)`` when Learnifier accepted the credentials, else
            ``(False, reason)``.
        """
        try:
            org_units = self.list_org_units()
        except (LearnifierError, ValueError) as err:
            return False, str(err)
        except Exception as err:
            return False, f"{type(err).__name__}: {err}"
        finally:
            self.close()
        return True, f"Connected to {self.base_url}: the account sees {len(org_units)} organization unit(s)."

    # ------------------------------------------------------------------ the request entry point

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: JsonObject | None = None,
        follow_redirects: bool = False,
        expect_json: bool = False,
    ) -> tuple[requests.Response, Any]:
        """Send one API request with retries and return the successful response.

        Each attempt (:func:`~airflow_provider_learnifier.hooks._transport.attempt.try_once`) has a
        deadline (:attr:`LearnifierConnectionSettings.deadline`) and its answer is scrubbed of
        credentials as it arrives. A failed attempt is repeated as
        :func:`~airflow_provider_learnifier.hooks._transport.retries.retry_delay` says: idempotent
        methods after connection errors, timeouts, 429/500/502/503/504 and (with ``expect_json``)
        a success that is not JSON; POST and PATCH only when the request provably never reached
        the server, or on 429/503 with ``Retry-After``. A ``requests`` exception that says a
        credential (the picture's URL holds the key) is not chained to the error raised.

        :return: the response, and its decoded JSON body with ``expect_json`` (``None`` when empty).
        :raises LearnifierError: the typed subclass for the final answer.
        """
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = ApiRequest(
            operation,
            method,
            path,
            params=params,
            data=data,
            headers=headers,
            follow_redirects=follow_redirects,
            expect_json=expect_json,
        )
        attempt = 0
        while True:
            outcome = try_once(self, request, attempts=attempt + 1)
            if outcome.error is None:
                assert outcome.answer is not None
                return outcome.answer, outcome.payload
            delay = retry_delay(self.settings, method, outcome, attempt)
            if delay is None:
                # Raised here, outside any except clause, and chained only to a cause that says no
                # credential: the picture's URL holds the key, and every requests exception repeats it.
                cause = outcome.cause if SCRUBBER.clean_chain(outcome.cause) else None
                raise outcome.error from cause
            attempt += 1
            if outcome.response is not None:
                outcome.response.close()  # an error answer is not needed once the request is repeated
            self._wait(delay, outcome.what, attempt, sleep=not outcome.paused)

    def _wait(self, seconds: float, what: str, attempt: int, *, sleep: bool = True) -> None:
        """Log the retry to come and wait for it (``sleep=False``: the rate gate already holds back)."""
        self.log.warning(
            "Learnifier %s; retry %d of %d in %.2f s", what, attempt, self.settings.max_retries, seconds
        )
        if sleep:
            time.sleep(seconds)

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        """Send a request and decode its JSON answer (``None`` for an empty one)."""
        _, payload = self._request(operation, method, path, params=params, body=body, expect_json=True)
        return payload

    def _call_list(self, operation: str, path: str, *, params: Mapping[str, Any] | None = None) -> list[Any]:
        """GET a JSON array of objects."""
        return object_list(self._call(operation, "GET", path, params=params), operation, "GET", path)

    def _call_object(
        self, operation: str, method: str, path: str, *, required: tuple[str, ...] = (), **kwargs: Any
    ) -> JsonObject:
        """Send a request whose answer is a JSON object holding at least the ``required`` members."""
        result = expect(self._call(operation, method, path, **kwargs), dict, operation, method, path)
        missing = [name for name in required if result.get(name) in (None, "")]
        if missing:
            raise LearnifierResponseError(
                f"Learnifier {operation}: {method} {path} answered an object without {', '.join(missing)}",
                operation=operation,
                method=method,
                path=path,
            )
        return result

    # ------------------------------------------------------------------ course designs

    def list_course_designs(self) -> list[JsonObject]:
        """List the global course design templates (``GET /coursedesigns``)."""
        return self._call_list("list_course_designs", "/coursedesigns")

    # ------------------------------------------------------------------ organization units

    def list_org_units(self) -> list[JsonObject]:
        """List the organization units (``GET /orgunits``), unwrapped from ``{"orgUnits": [...]}``."""
        result = self._call_object("list_org_units", "GET", "/orgunits")
        return object_list(result.get("orgUnits", []), "list_org_units", "GET", "/orgunits")

    def get_org_unit(self, org_id: str | int) -> JsonObject:
        """Get one organization unit (``GET /orgunits/{orgid}``)."""
        return self._call_object("get_org_unit", "GET", _path("orgunits", ("org_id", org_id)))

    def get_org_unit_by_external_id(self, external_id: str) -> JsonObject:
        """Get the organization unit with an external id (``GET /extorgunit``)."""
        return self._call_object(
            "get_org_unit_by_external_id",
            "GET",
            "/extorgunit",
            params={"extid": _non_blank_text("external_id", external_id)},
        )

    def create_org_unit(
        self,
        *,
        display_name: str,
        external_id: str | None = None,
        client_number: str | None = None,
        country: str | None = None,
        parent: str | int | None = None,
        caller: str | None = None,
    ) -> JsonObject:
        """Create an organization unit (``POST /orgunits``).

        :return: Learnifier's answer, ``{"ouId": <new id>}``.
        :raises LearnifierConflictError: when the external id or client number is taken.
        """
        body = _fields(
            displayName=display_name,
            externalId=external_id,
            clientNumber=client_number,
            country=country,
            parent=int_like(parent),
            caller=caller,
        )
        return self._call_object("create_org_unit", "POST", "/orgunits", body=body)

    def update_org_unit(
        self,
        org_id: str | int,
        *,
        display_name: str | None = None,
        external_id: str | None = None,
        client_number: str | None = None,
        country: str | None = None,
        parent: str | int | None = None,
        caller: str | None = None,
    ) -> None:
        """Update an organization unit (``PATCH /orgunits/{orgid}``); only the given fields change."""
        body = _fields(
            displayName=display_name,
            externalId=external_id,
            clientNumber=client_number,
            country=country,
            parent=int_like(parent),
            caller=caller,
        )
        self._call("update_org_unit", "PATCH", _path("orgunits", ("org_id", org_id)), body=body)

    # ------------------------------------------------------------------ projects

    def list_projects(self, org_id: str | int) -> list[JsonObject]:
        """List an organization unit's projects (``GET /orgunits/{orgid}/projects``)."""
        return self._call_list("list_projects", _path("orgunits", ("org_id", org_id), "projects"))

    def get_project(self, org_id: str | int, project_id: str | int) -> JsonObject:
        """Get one project (``GET /orgunits/{orgid}/projects/{projectid}``)."""
        path = _path("orgunits", ("org_id", org_id), "projects", ("project_id", project_id))
        return self._call_object("get_project", "GET", path, required=_PROJECT_KEYS)

    def get_project_by_external_id(self, external_id: str) -> JsonObject:
        """Get the project with an external id (``GET /extproject``)."""
        return self._call_object(
            "get_project_by_external_id",
            "GET",
            "/extproject",
            params={"extid": _non_blank_text("external_id", external_id)},
            required=_PROJECT_KEYS,
        )

    def create_project(
        self,
        org_id: str | int,
        *,
        name: str,
        design_id: str | int,
        external_id: str | None = None,
        country: str | None = None,
        created_by: str | None = None,
        locale: str | None = None,
        note: str | None = None,
        timezone: str | None = None,
        user_description: str | None = None,
        user_title: str | None = None,
    ) -> JsonObject:
        """Create a project from a course design (``POST /orgunits/{orgid}/projects``).

        :return: the new project.
        """
        body = _fields(
            name=name,
            designId=int_like(design_id),
            externalId=external_id,
            country=country,
            createdBy=created_by,
            locale=locale,
            note=note,
            timezone=timezone,
            userDescription=user_description,
            userTitle=user_title,
        )
        path = _path("orgunits", ("org_id", org_id), "projects")
        return self._call_object("create_project", "POST", path, body=body, required=_PROJECT_KEYS)

    def update_project(
        self,
        org_id: str | int,
        project_id: str | int,
        *,
        name: str | None = None,
        status: str | None = None,
        country: str | None = None,
        locale: str | None = None,
        note: str | None = None,
        timezone: str | None = None,
        user_description: str | None = None,
        user_title: str | None = None,
    ) -> JsonObject | None:
        """Update a project (``PATCH /orgunits/{orgid}/projects/{projectid}``); only the given fields change.

        :return: the updated project, or ``None`` when Learnifier answered without a body.
        """
        body = _fields(
            name=name,
            status=status,
            country=country,
            locale=locale,
            note=note,
            timezone=timezone,
            userDescription=user_description,
            userTitle=user_title,
        )
        path = _path("orgunits", ("org_id", org_id), "projects", ("project_id", project_id))
        result = self._call("update_project", "PATCH", path, body=body)
        # Any 2xx is success: an answer without a body (a 204) applied the update too.
        return None if result is None else expect(result, dict, "update_project", "PATCH", path)

    def delete_project(self, org_id: str | int, project_id: str | int) -> None:
        """Delete a project (``DELETE /orgunits/{orgid}/projects/{projectid}``).

        :raises LearnifierRefusedError: when the project still has participants (406).
        """
        path = _path("orgunits", ("org_id", org_id), "projects", ("project_id", project_id))
        self._call("delete_project", "DELETE", path)

    def resolve_project(
        self,
        *,
        project_id: str | int | None = None,
        org_id: str | int | None = None,
        external_id: str | None = None,
    ) -> JsonObject:
        """Find a project by ``org_id`` and ``project_id``, or by its ``external_id``.

        Not an API operation of its own: the one lookup that operators and sensors share. With
        ``external_id``, ``org_id`` is optional; when given, the project must belong to it.

        :raises ValueError: unless exactly one way of naming the project is given, or when the
            project found by ``external_id`` belongs to another organization unit than ``org_id``.
        :raises LearnifierNotFoundError: when there is no such project; it names the external id
            (and the org unit, when given).
        """
        one_way = "name the project either by org_id and project_id, or by external_id (not both)"
        if external_id is not None:
            if project_id is not None:
                raise ValueError(one_way)
            try:
                project = self.get_project_by_external_id(external_id)
            except LearnifierNotFoundError as error:
                wanted_in = "" if org_id is None else f" (wanted in organization unit {org_id})"
                raise LearnifierNotFoundError(
                    f"Learnifier has no project with the external id {external_id!r}{wanted_in} ({error})",
                    **error.details,
                ) from error
            if org_id is not None and str(project.get("orgId")) != str(org_id).strip():
                raise ValueError(
                    f"the project with external id {external_id!r} belongs to organization unit "
                    f"{project.get('orgId')}, not to org_id {org_id!r}"
                )
            return project
        if project_id is None:
            raise ValueError(one_way)
        if org_id is None:
            raise ValueError(f"project_id {project_id!r} needs its org_id")
        return self.get_project(org_id, project_id)

    # ------------------------------------------------------------------ participants

    def list_participants(self, org_id: str | int, project_id: str | int) -> list[JsonObject]:
        """List a project's participants with their progress (``GET .../{projectid}/participants``)."""
        return self._call_list("list_participants", _participants_path(org_id, project_id))

    def add_participant(
        self,
        org_id: str | int,
        project_id: str | int,
        *,
        email: str | None = None,
        user_id: str | None = None,
        external_id: str | None = None,
    ) -> str | None:
        """Add a user to a project as a participant (``POST .../projects/{projectid}/participants``).

        Give the user by ``user_id`` or by ``email``, not both (Learnifier creates a user for an
        unknown email).

        :param external_id: an external id for the participation.
        :return: the new participant's id, read from the ``Location`` header (``None`` if absent).
        :raises LearnifierConflictError: when the user already participates; its ``existing_id`` is
            the existing participant's id.
        """
        if (email is None) == (user_id is None):
            raise ValueError("add_participant needs exactly one of email and user_id")
        body = _fields(email=email, userid=user_id, extid=external_id)
        path = _participants_path(org_id, project_id)
        response, _ = self._request("add_participant", "POST", path, body=body)
        location = response.headers.get("Location")
        if location is None:
            return None
        participant_id = id_from_location(location)
        if participant_id is None:
            raise LearnifierResponseError(
                f"Learnifier add_participant: POST {path} answered a Location header that names no usable "
                f"participant id ({location[:120]!r})",
                operation="add_participant",
                method="POST",
                path=path,
                status=response.status_code,
            )
        return participant_id

    def delete_participant(self, org_id: str | int, project_id: str | int, participant_id: str | int) -> None:
        """Remove a participant from a project (``DELETE .../participants/{participantId}``)."""
        path = _participants_path(org_id, project_id, participant_id)
        self._call("delete_participant", "DELETE", path)

    def activate_participant(
        self, org_id: str | int, project_id: str | int, participant_id: str | int
    ) -> None:
        """Activate a participant so the user can use the course (``POST .../{participantId}/activate``).

        :raises LearnifierActivationError: when Learnifier refuses (406), with its ``failures``.
        """
        path = _participants_path(org_id, project_id, participant_id) + "/activate"
        self._call("activate_participant", "POST", path)

    def create_login_link(self, org_id: str | int, project_id: str | int, participant_id: str | int) -> str:
        """Create a single-use login link for a participant (``POST .../{participantId}/loginlink``).

        The link is a credential: it is masked in task logs from the moment it is received.
        """
        path = _participants_path(org_id, project_id, participant_id) + "/loginlink"
        result = self._call_object("create_login_link", "POST", path)
        link = result.get("link")
        if not isinstance(link, str) or not link:
            raise LearnifierResponseError(
                f"Learnifier create_login_link: POST {path} answered without a link",
                operation="create_login_link",
                method="POST",
                path=path,
            )
        mask_in_task_logs(link)
        return link

    def get_participation_by_external_id(self, external_id: str) -> JsonObject:
        """Get the participation with an external id (``GET /extparticipation``)."""
        return self._call_object(
            "get_participation_by_external_id",
            "GET",
            "/extparticipation",
            params={"extid": _non_blank_text("external_id", external_id)},
        )

    def list_team_members(self, org_id: str | int, project_id: str | int) -> list[JsonObject]:
        """List a project's team members (``GET .../projects/{projectid}/teammembers``)."""
        path = _path("orgunits", ("org_id", org_id), "projects", ("project_id", project_id), "teammembers")
        return self._call_list("list_team_members", path)

    # ------------------------------------------------------------------ users

    def list_users(self, *, limit: int | None = None, offset: int | None = None) -> list[JsonObject]:
        """List one page of users (``GET /users``); see :meth:`iter_users` to read them all.

        The server may answer fewer users than ``limit`` asks for; :meth:`list_users_page` says
        what it used and whether there are more.
        """
        return self.list_users_page(limit=limit, offset=offset).users

    def list_users_page(self, *, limit: int | None = None, offset: int | None = None) -> UsersPage:
        """List one page of users (``GET /users``), with what the paging headers say about it.

        :raises LearnifierResponseError: when a paging header is not what the spec declares.
        """
        params = _fields(limit=_non_negative("limit", limit), offset=_non_negative("offset", offset))
        operation, path = "list_users", "/users"
        response, payload = self._request(operation, "GET", path, params=params or None, expect_json=True)
        users = object_list(payload, operation, "GET", path)

        def header(name: str, parse: Callable[[str], Any]) -> Any:
            return read_header(response, name, parse, operation=operation, method="GET", path=path)

        return UsersPage(
            users=users,
            more=header("X-More", header_bool),
            offset=header("X-Offset", header_count),
            size=header("X-Size", header_count),
            limit=header("X-Limit", header_count),
        )

    def iter_users(self, *, page_size: int = 500) -> Iterator[JsonObject]:
        """Yield every user of the account, each once, reading ``page_size`` at a time.

        The listing is complete or it fails: pages are read until the server says there are no
        more (``X-More: false``; without that header, until an empty page), never stopping at a
        page shorter than asked (the server may use a smaller limit). Each next page starts after
        the users received.

        :raises LearnifierResponseError: when the server's pages cannot be read to their end:
            ``X-More: true`` with an empty page, headers that contradict the page, or a page of
            only users already seen (a server that ignores ``offset``).
        """
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        offset = 0
        seen: set[str] = set()
        while True:
            page = self.list_users_page(limit=page_size, offset=offset)
            problem = page.problem(offset)
            fresh = [user for user in page.users if str(user.get("id")) not in seen]
            if problem is None and page.users and not fresh:
                problem = "a page held only users already listed (is offset ignored?)"
            if problem is not None:
                raise LearnifierResponseError(
                    f"Learnifier list_users: GET /users could not be read to its end at offset {offset}: "
                    f"{problem}; the listing is incomplete",
                    operation="list_users",
                    method="GET",
                    path="/users",
                )
            for user in fresh:
                seen.add(str(user.get("id")))
                yield user
            if page.more is False or (page.more is None and not page.users):
                return
            offset += len(page.users)

    def get_user(self, user_id: str) -> JsonObject:
        """Get one user (``GET /users/{userid}``)."""
        return self._call_object("get_user", "GET", _path("users", ("user_id", user_id)))

    def get_user_by_external_id(self, external_id: str) -> JsonObject:
        """Get the user with an external id (``GET /extuser``)."""
        return self._call_object(
            "get_user_by_external_id",
            "GET",
            "/extuser",
            params={"extid": _non_blank_text("external_id", external_id)},
        )

    def create_user(
        self,
        *,
        primary_email: str | None = None,
        external_id: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        display_name: str | None = None,
        locale: str | None = None,
        home_org: str | int | None = None,
        hard_lock: bool | None = None,
    ) -> str:
        """Create a user (``POST /users``).

        :return: the new user's id.
        :raises LearnifierConflictError: when a user with the external id or email exists; its
            ``existing_id`` is that user's id.
        """
        body = _user_fields(
            primary_email=primary_email,
            external_id=external_id,
            first_name=first_name,
            last_name=last_name,
            display_name=display_name,
            locale=locale,
            home_org=home_org,
            hard_lock=hard_lock,
        )
        result = self._call_object("create_user", "POST", "/users", body=body)
        user_id = result.get("userId")
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)) or id_problem(str(user_id)):
            raise LearnifierResponseError(
                f"Learnifier create_user: POST /users answered without a usable userId ({user_id!r})",
                operation="create_user",
                method="POST",
                path="/users",
            )
        return str(user_id)

    def update_user(
        self,
        user_id: str,
        *,
        primary_email: str | None = None,
        external_id: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        display_name: str | None = None,
        locale: str | None = None,
        home_org: str | int | None = None,
        hard_lock: bool | None = None,
    ) -> None:
        """Update a user (``PATCH /users/{userid}``); only the given fields change."""
        body = _user_fields(
            primary_email=primary_email,
            external_id=external_id,
            first_name=first_name,
            last_name=last_name,
            display_name=display_name,
            locale=locale,
            home_org=home_org,
            hard_lock=hard_lock,
        )
        self._call("update_user", "PATCH", _path("users", ("user_id", user_id)), body=body)

    def get_user_picture(self, user_id: str) -> bytes:
        """Download a user's profile picture (``GET /users/{userid}/pic``).

        Learnifier wants the API key (not the secret) in the ``key`` query parameter. A redirect to
        another host is followed without the ``Authorization`` header; at most :data:`MAX_REDIRECTS`
        are followed, all within the attempt's deadline.
        """
        path = _path("users", ("user_id", user_id), "pic")
        response, _ = self._request(
            "get_user_picture", "GET", path, params={"key": self.settings.key}, follow_redirects=True
        )
        return response.content

    def list_user_participations(self, user_id: str) -> list[JsonObject]:
        """List the projects a user participates in (``GET /users/{userid}/projectParticipations``)."""
        path = _path("users", ("user_id", user_id), "projectParticipations")
        result = self._call("list_user_participations", "GET", path)
        # The spec declares one object where the API answers a list; take either.
        if isinstance(result, dict):
            return [result]
        return object_list(result, "list_user_participations", "GET", path)

    # ------------------------------------------------------------------ user groups

    def list_global_user_groups(self) -> list[JsonObject]:
        """List the realm's global user groups (``GET /globalusergroups``)."""
        return self._call_list("list_global_user_groups", "/globalusergroups")

    def list_global_user_group_members(self, group_id: str | int) -> list[JsonObject]:
        """List the users in groups based on a global group (``GET /globalusergroups/{groupid}/members``)."""
        path = _path("globalusergroups", ("group_id", group_id), "members")
        return self._call_list("list_global_user_group_members", path)

    def list_user_groups(self, org_id: str | int) -> list[JsonObject]:
        """List an organization unit's user groups (``GET /orgunits/{orgid}/usergroups``)."""
        return self._call_list("list_user_groups", _path("orgunits", ("org_id", org_id), "usergroups"))

    def create_user_group(
        self, org_id: str | int, *, name: str, parent: str | int | None = None
    ) -> int | str:
        """Create a user group (``POST /orgunits/{orgid}/usergroups``).

        :return: the new group's id.
        """
        path = _path("orgunits", ("org_id", org_id), "usergroups")
        result = self._call(
            "create_user_group", "POST", path, body=_fields(name=name, parent=int_like(parent))
        )
        # The spec declares a list of GroupId objects; accept a bare object as well.
        group = result[0] if isinstance(result, list) and result else result
        # The spec leaves user-group objects undefined: the id may be named ``groupId`` or ``id``.
        group_id = group.get("groupId", group.get("id")) if isinstance(group, dict) else None
        if group_id is None:
            raise LearnifierResponseError(
                f"Learnifier create_user_group: POST {path} answered without a groupId",
                operation="create_user_group",
                method="POST",
                path=path,
            )
        return check_id("groupId", group_id)

    def get_user_group(self, org_id: str | int, group_id: str | int) -> JsonObject:
        """Get one user group (``GET /orgunits/{orgid}/usergroups/{groupid}``)."""
        path = _path("orgunits", ("org_id", org_id), "usergroups", ("group_id", group_id))
        return self._call_object("get_user_group", "GET", path)

    def list_user_group_members(self, org_id: str | int, group_id: str | int) -> list[JsonObject]:
        """List a user group's members (``GET /orgunits/{orgid}/usergroups/{groupid}/members``)."""
        path = _path("orgunits", ("org_id", org_id), "usergroups", ("group_id", group_id), "members")
        return self._call_list("list_user_group_members", path)

    def add_user_group_member(self, org_id: str | int, group_id: str | int, user_id: str) -> None:
        """Add a user to a user group (``POST /orgunits/{orgid}/usergroups/{groupid}/members``)."""
        path = _path("orgunits", ("org_id", org_id), "usergroups", ("group_id", group_id), "members")
        self._call("add_user_group_member", "POST", path, body={"uuid": _non_blank_text("user_id", user_id)})

    def remove_user_group_member(self, org_id: str | int, group_id: str | int, user_id: str) -> None:
        """Remove a user from a user group (``DELETE .../usergroups/{groupid}/members/{uuid}``)."""
        path = _path(
            "orgunits",
            ("org_id", org_id),
            "usergroups",
            ("group_id", group_id),
            "members",
            ("user_id", user_id),
        )
        self._call("remove_user_group_member", "DELETE", path)
