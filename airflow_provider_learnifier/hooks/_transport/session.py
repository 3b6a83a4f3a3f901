"""The ``requests`` session a hook sends through, made from its connection's settings.

HTTP Basic authentication that ``requests`` drops on a redirect to another host; nothing taken
from the environment (the proxy is the connection's alone); the process's shared TLS context
(:mod:`~airflow_provider_learnifier.hooks._transport.tls`); connections whose sockets the attempt
deadlines watch (:mod:`~airflow_provider_learnifier.hooks._transport.deadline`); no retries of
urllib3's own (the hook retries). See ``docs/guides/hook.md``.

Imports ``requests``: the hook imports this module when it makes its first session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from airflow_provider_learnifier import __version__
from airflow_provider_learnifier.hooks._transport.settings import MAX_REDIRECTS
from airflow_provider_learnifier.hooks._transport.tls import SharedTLSAdapter, shared_ssl_context
from airflow_provider_learnifier.hooks._transport.urllib3_internals import watch_pools

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks._transport.settings import LearnifierConnectionSettings

USER_AGENT = f"airflow-provider-learnifier/{__version__}"


class BasicAuth:
    """Sets the precomputed ``Authorization`` header; its ``repr`` never shows it.

    Used as ``requests.Session.auth``, so ``requests`` drops it on a redirect to another host.
    """

    def __init__(self, header_value: str) -> None:
        self._header_value = header_value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header_value
        return request

    def __repr__(self) -> str:
        return "<Learnifier Basic auth>"


class WatchedAdapter(SharedTLSAdapter):
    """A :class:`~airflow_provider_learnifier.hooks._transport.tls.SharedTLSAdapter` whose
    connections, direct or through the proxy, are watched for the attempt's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        watch_pools(manager)
        return manager


def make_session(settings: LearnifierConnectionSettings, *, pool_maxsize: int) -> requests.Session:
    """A session for one hook: ``pool_maxsize`` connections kept open to Learnifier."""
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.verify
    session.auth = BasicAuth(settings.authorization)
    session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
    session.max_redirects = MAX_REDIRECTS
    adapter = WatchedAdapter(
        shared_ssl_context(settings.verify),
        pool_connections=1,
        pool_maxsize=pool_maxsize,
        max_retries=0,
        proxy=settings.proxy,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
