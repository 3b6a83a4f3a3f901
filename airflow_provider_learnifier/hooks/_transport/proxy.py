"""The forward proxy a Learnifier connection sends its requests through (``proxy`` extras).

Read from the connection's extras by :func:`proxy_from_extras`: ``proxy`` (an ``http://`` or
``https://`` proxy URL, credentials optional), ``no_proxy`` (hosts reached directly) and
``proxy_from_environment`` (take both from ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and
``NO_PROXY`` instead). HTTPS to Learnifier goes through the proxy in a ``CONNECT`` tunnel, so
Learnifier's certificate is verified end to end as without a proxy. See ``docs/connection.md``.

Importing this module stays cheap: it needs nothing beyond the standard library.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["ProxySettings", "proxy_from_extras"]

#: The default port of each proxy scheme, as ``urllib3`` assumes it.
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` (or ``[v6]:port``) into the host and the port; a bare IPv6 address has no port."""
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", entry)
    if bracketed:
        return bracketed.group(1), int(bracketed.group(2)) if bracketed.group(2) else None
    host, sep, port = entry.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def _bypass_matches(entry: str, host: str, port: int | None) -> bool:
    """Tell whether one ``no_proxy`` entry names ``host`` (and ``port``, when the entry has one)."""
    if entry == "*":
        return True
    entry_host, entry_port = _split_port(entry)
    if entry_port is not None and entry_port != port:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        try:
            return address in ipaddress.ip_network(entry_host, strict=False)
        except ValueError:
            return False
    domain = entry_host.lstrip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


@dataclass(frozen=True)
class ProxySettings:
    """A checked forward proxy.

    :param scheme: ``http`` (the usual corporate proxy: HTTPS still tunnels end to end through it)
        or ``https`` (TLS to the proxy as well, verified with the connection's CA bundle).
    :param host: the proxy's host name or address.
    :param port: the proxy's port.
    :param username: the user name of Basic proxy authentication, percent-decoded; never in ``repr``.
    :param password: its password, percent-decoded; never in ``repr``.
    :param no_proxy: hosts reached directly, lower case: a name (its subdomains too), a leading-dot
        domain, an IP address or network, each optionally with ``:port``; ``*`` means every host.
    """

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    no_proxy: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The proxy as ``scheme://host:port``, without credentials: for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The proxy URL for ``requests``, credentials percent-encoded in it; never log it."""
        if self.username is None:
            return self.display
        userinfo = quote(self.username, safe="")
        if self.password is not None:
            userinfo += ":" + quote(self.password, safe="")
        return self.display.replace("://", f"://{userinfo}@", 1)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the password, its encoded forms, and the ``Proxy-Authorization`` value.

        The user name alone is not secret (like the API key is masked only where it is one: the
        password is what authenticates).
        """
        if not self.password:
            return ()
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        forms = (self.password, quote(self.password, safe=""), token, f"Basic {token}")
        return tuple(dict.fromkeys(form for form in forms if len(form) >= 3))

    def applies_to(self, url: str) -> bool:
        """Tell whether a request to ``url`` goes through the proxy (its host is not in ``no_proxy``)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        except ValueError:
            port = None
        return not any(_bypass_matches(entry, host, port) for entry in self.no_proxy)


def parse_proxy_url(
    value: str, no_proxy: tuple[str, ...] = (), *, source: str = "extra 'proxy'"
) -> ProxySettings:
    """Check a proxy URL: ``http://`` or ``https://``, a host, an optional port and credentials.

    A URL without a scheme means ``http://``, as ``curl`` and ``requests`` take it.

    :param source: where the URL comes from, for errors.
    :raises ValueError: naming what is wrong, never repeating the credentials.
    """
    text = value.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    # The host part may be repeated; a URL holding credentials anywhere else (a password with an
    # unencoded "/" ends the network location early) is not.
    if "@" in parts.netloc:
        shown = parts.netloc.rpartition("@")[2]
    elif "@" in text:
        shown = "not shown: it holds credentials; percent-encode '/', '@' and ':' in them"
    else:
        shown = parts.netloc
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"{source} must be an http:// or https:// proxy URL, not {scheme}:// ({shown})")
    if not parts.hostname:
        raise ValueError(f"{source} names no host ({shown})")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError(f"{source} has an invalid port ({shown})") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{source} must be scheme://[user:password@]host[:port], with no path ({shown})")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ProxySettings(scheme, parts.hostname, port, username, password or None, no_proxy)


def _parse_no_proxy(value: Any, source: str) -> tuple[str, ...]:
    """A ``no_proxy`` list: a comma- or space-separated string, or a JSON list of strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        items = re.split(r"[,\s]+", value)
    elif isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise ValueError(f"{source} must be a comma-separated list of hosts, not {value!r}")
    return tuple(dict.fromkeys(item.strip().lower().rstrip(".") for item in items if item.strip()))


def _parse_flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if value is None:
        return False
    raise ValueError(f"extra {name!r} must be true or false, not {value!r}")


def _environ(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or env.get(name.upper()) or "").strip()


def proxy_from_extras(
    extras: Mapping[str, Any], base_url: str, environ: Mapping[str, str] | None = None
) -> ProxySettings | None:
    """The proxy a connection's extras ask for, or ``None`` to connect directly.

    ``proxy`` and ``no_proxy`` come from the extras; with ``proxy_from_environment`` true, from
    the environment instead: ``HTTPS_PROXY`` (``HTTP_PROXY`` for an ``http://`` base URL), else
    ``ALL_PROXY``, and ``NO_PROXY``, lower-case names first as ``curl`` reads them. The environment
    is read once, here; nothing else of it is (no ``.netrc``, no ``REQUESTS_CA_BUNDLE``).

    :raises ValueError: for a malformed extra, or ``proxy`` given with ``proxy_from_environment``.
    """
    from_environment = _parse_flag(extras.get("proxy_from_environment"), "proxy_from_environment")
    proxy = extras.get("proxy")
    if proxy is not None and not isinstance(proxy, str):
        raise ValueError("extra 'proxy' must be a proxy URL")
    proxy = (proxy or "").strip()
    if from_environment:
        if proxy or extras.get("no_proxy"):
            raise ValueError(
                "give the proxy either in the extras 'proxy' and 'no_proxy' or by "
                "'proxy_from_environment', not both"
            )
        env = os.environ if environ is None else environ
        scheme = urlsplit(base_url).scheme.lower()
        names = (f"{scheme}_proxy", "all_proxy")
        found = [(name.upper(), value) for name in names if (value := _environ(env, name))]
        if not found:
            return None
        source, proxy = f"the {found[0][0]} environment variable", found[0][1]
        no_proxy = _parse_no_proxy(_environ(env, "no_proxy"), "the NO_PROXY environment variable")
    else:
        source = "extra 'proxy'"
        no_proxy = _parse_no_proxy(extras.get("no_proxy"), "extra 'no_proxy'")
    if not proxy:
        return None
    return parse_proxy_url(proxy, no_proxy, source=source)
