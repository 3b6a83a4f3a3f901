"""Typed errors raised by :class:`~airflow_provider_learnifier.hooks.learnifier.LearnifierHook`.

Every error names the hook method, the HTTP method and path, the status and what Learnifier
said (its ``code``, ``field`` and ``message``). None of them ever carries a credential.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_learnifier.version_compat import AirflowException


class LearnifierError(AirflowException):
    """Base class of every error raised for a Learnifier API call.

    :param message: the human-readable summary.
    :param operation: the hook method that made the call, e.g. ``add_participant``.
    :param method: the HTTP method.
    :param path: the request path, relative to the base URL.
    :param status: the HTTP status, or ``None`` when no response arrived.
    :param code: Learnifier's error ``code``, when it sent one.
    :param field: Learnifier's error ``field``, when it sent one.
    :param api_message: Learnifier's error ``message``, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: int | None = None,
        field: str | None = None,
        api_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.field = field
        self.api_message = api_message


class LearnifierConnectionError(LearnifierError):
    """The request got no usable answer: connection refused or dropped, TLS failure, or timeout.

    :param reached_server: ``False`` when the request provably never reached Learnifier (the
        connection or TLS handshake failed), so nothing it asked for was applied; ``True`` when
        it may have been applied, and a caller must check before sending it again.
    """

    def __init__(self, message: str, *, reached_server: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reached_server = reached_server


class LearnifierResponseError(LearnifierError):
    """Learnifier answered a success status with a body that is not the JSON the API promises."""


class LearnifierAuthError(LearnifierError):
    """401 or 403: the API key and secret were refused or lack the permission."""


class LearnifierNotFoundError(LearnifierError):
    """404: the resource does not exist."""


class LearnifierConflictError(LearnifierError):
    """409: the resource already exists.

    :param existing_id: the id of the existing resource, where Learnifier returns one
        (``POST /users`` sends it in the body, ``POST .../participants`` in ``Location``).
    """

    def __init__(self, message: str, *, existing_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.existing_id = existing_id


class LearnifierValidationError(LearnifierError):
    """400 or 422: Learnifier rejected the request's input."""


class LearnifierRefusedError(LearnifierError):
    """406: Learnifier refused the request, e.g. deleting a project that still has participants.

    :param failures: the ``failures`` list of the 406 body (``message``, ``productId``, ``type``).
    """

    def __init__(self, message: str, *, failures: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.failures = failures or []


class LearnifierActivationError(LearnifierRefusedError):
    """406 on activation: Learnifier refused to activate a participant; see ``failures``."""


class LearnifierRateLimitError(LearnifierError):
    """429: too many requests, still refused after the hook's retries.

    :param retry_after: seconds Learnifier asked the caller to wait, when it said.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class LearnifierServerError(LearnifierError):
    """5xx: Learnifier failed, still failing after the hook's retries where retrying was safe."""
