"""The settings of a Learnifier connection: read from an Airflow connection, checked, typed.

:class:`LearnifierConnectionSettings` is what the hook knows of its connection: the base URL (HTTPS,
or plain HTTP to loopback only), the credentials, the timeouts and deadline, the retries, the rate
and the forward proxy. Every extra is checked here, with an error naming the connection and what
is wrong. See ``docs/connection.md`` for the extras.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_learnifier._arguments import positive_number, positive_seconds
from airflow_provider_learnifier.hooks._transport.proxy import ProxySettings, proxy_from_extras

if TYPE_CHECKING:
    from airflow.sdk import Connection

#: Learnifier's production API, used when the connection's host is empty.
DEFAULT_BASE_URL = "https://learnifier.com"
#: Seconds to wait for a connection, then for an answer, unless the connection's extras say otherwise.
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_MAX_RETRIES = 5
DEFAULT_BACKOFF_FACTOR = 0.5
#: The most redirects ``get_user_picture`` follows (the others are never followed).
MAX_REDIRECTS = 5


def is_loopback_host(hostname: str) -> bool:
    """Tell whether ``hostname`` names this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if hostname.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def build_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """Make the API base URL from a connection's host (a hostname or a URL with a path), port and schema.

    An empty host means :data:`DEFAULT_BASE_URL`; a host without a scheme means ``https``.

    :raises ValueError: for a scheme other than ``https``, plain ``http`` to a host that is not
        loopback, credentials, a query or a fragment in the host.
    """
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError(f"host must be an https:// URL or a hostname, not a {scheme}:// URL")
    if "@" in parts.netloc:
        raise ValueError(
            "host must not contain credentials: put the API key in login and the secret in password"
        )
    if not parts.hostname:
        raise ValueError(f"host {host!r} names no hostname")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError(f"host {host!r} has an invalid port") from None
    if parts.query or parts.fragment:
        raise ValueError("host must not contain a query string or a fragment")
    if scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"plain http:// is refused for {parts.hostname!r}: Learnifier is HTTPS-only, and http:// is "
            "allowed only to loopback hosts (localhost, 127.0.0.0/8, ::1) such as the local simulator"
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/")
    if not path and schema:
        path = "/" + schema.strip("/")
    return f"{scheme}://{netloc}{path}"


def _parse_timeout(value: Any) -> tuple[float, float]:
    if value is None or value == "":
        return DEFAULT_TIMEOUT
    try:
        if isinstance(value, str):
            value = json.loads(value)
        if isinstance(value, Mapping):
            connect, read = value.get("connect", DEFAULT_TIMEOUT[0]), value.get("read", DEFAULT_TIMEOUT[1])
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            connect, read = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            connect, read = min(DEFAULT_TIMEOUT[0], value), value
        else:
            raise TypeError
        timeout = (float(connect), float(read))
    except (TypeError, ValueError):
        raise ValueError(
            f"extra 'timeout' must be read seconds, [connect, read] or {{'connect', 'read'}}, not {value!r}"
        ) from None
    if min(timeout) <= 0:
        raise ValueError(f"extra 'timeout' must be positive, not {value!r}")
    return timeout


def _parse_verify(value: Any) -> bool | str:
    if value is None or value is True or (isinstance(value, str) and value.strip().lower() in ("", "true")):
        return True
    if value is False or (isinstance(value, str) and value.strip().lower() == "false"):
        raise ValueError(
            "extra 'verify' cannot turn certificate verification off; give the path of a CA bundle "
            "for a private certificate authority instead"
        )
    if not isinstance(value, str):
        raise ValueError(f"extra 'verify' must be true or the path of a CA bundle, not {value!r}")
    path = os.path.expanduser(value.strip())
    if not os.path.exists(path):
        raise ValueError(f"extra 'verify': the CA bundle {path!r} does not exist")
    return path


def _parse_deadline(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return positive_seconds("extra 'request_deadline'", value)


def _parse_max_rate(value: Any) -> float | None:
    if value is None or value == "":
        return None
    rate = positive_number(value)
    if rate is None:
        raise ValueError(f"extra 'max_requests_per_second' must be a positive number, not {value!r}")
    return rate


def _parse_number(extras: Mapping[str, Any], name: str, default: float, kind: type) -> Any:
    value = extras.get(name)
    if value is None or value == "":
        return kind(default)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"extra {name!r} must be a number, not {value!r}") from None
    if number < 0:
        raise ValueError(f"extra {name!r} must not be negative, not {value!r}")
    return number


@dataclass(frozen=True)
class LearnifierConnectionSettings:
    """Everything the hook needs from an Airflow connection, checked.

    :param base_url: the API base URL, without a trailing slash.
    :param key: the account's API key (HTTP Basic user name); never shown in ``repr``.
    :param secret: the account's API secret (HTTP Basic password); never shown in ``repr``.
    :param timeout: (connect, read) timeout in seconds. The read timeout bounds each wait for
        data from the socket, not the whole answer: see ``request_deadline``.
    :param verify: ``True``, or the path of a CA bundle that signs the server's certificate.
    :param max_retries: how many times a failed request may be retried.
    :param backoff_factor: the first backoff in seconds; each next one doubles.
    :param request_deadline: the longest one attempt may take in seconds: connecting, the
        headers and the body, across redirects; ``None`` means connect plus read timeout. A server
        that sends its headers or answer a byte at a time cannot hold a request longer than this.
    :param max_requests_per_second: send at most this many requests per second from one hook
        (all its threads together); ``None``: no maximum, the hook learns the limit from 429 answers.
    :param proxy: the forward proxy to send requests through (extras ``proxy``, ``no_proxy`` and
        ``proxy_from_environment``); ``None``: connect directly. Its ``repr`` has no credentials.
    """

    base_url: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    verify: bool | str = True
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR
    request_deadline: float | None = None
    max_requests_per_second: float | None = None
    proxy: ProxySettings | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> LearnifierConnectionSettings:
        """Read and check an Airflow connection of type ``learnifier``.

        :raises ValueError: naming the connection and what is wrong with it.
        """
        try:
            if not conn.login:
                raise ValueError("it has no API key: set the connection's login")
            if not conn.password:
                raise ValueError("it has no API secret: set the connection's password")
            extras = conn.extra_dejson
            base_url = build_base_url(conn.host, conn.port, conn.schema)
            return cls(
                base_url=base_url,
                key=conn.login,
                secret=conn.password,
                timeout=_parse_timeout(extras.get("timeout")),
                verify=_parse_verify(extras.get("verify")),
                max_retries=_parse_number(extras, "max_retries", DEFAULT_MAX_RETRIES, int),
                backoff_factor=_parse_number(extras, "backoff_factor", DEFAULT_BACKOFF_FACTOR, float),
                request_deadline=_parse_deadline(extras.get("request_deadline")),
                max_requests_per_second=_parse_max_rate(extras.get("max_requests_per_second")),
                proxy=proxy_from_extras(extras, base_url),
            )
        except ValueError as err:
            raise ValueError(f"Learnifier connection {conn.conn_id!r} is not usable: {err}") from None

    @property
    def deadline(self) -> float:
        """The longest one attempt may take: ``request_deadline``, else connect plus read timeout."""
        if self.request_deadline is not None:
            return self.request_deadline
        return self.timeout[0] + self.timeout[1]

    @property
    def token(self) -> str:
        """The HTTP Basic token: ``base64(key:secret)``, UTF-8 encoded."""
        return base64.b64encode(f"{self.key}:{self.secret}".encode()).decode("ascii")

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value: ``Basic`` and :attr:`token`."""
        return f"Basic {self.token}"
