"""TLS: one verified TLS context per CA bundle in the process, and the ``requests`` adapter using it.

Loading a system-size CA bundle costs a TLS context most of a megabyte, and ``requests`` would have
urllib3 load it into a context per connection; so every hook verifying with the same bundle shares
one, frozen: it always verifies certificates and host names. The adapter also decides, for each
URL, whether the connection's proxy applies. See ``docs/connection.md`` (``verify``, ``proxy``).

Imports ``requests``: import this module where a session is made, not where operators are imported.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.util import ALPN_PROTOCOLS

if TYPE_CHECKING:
    from airflow_provider_learnifier.hooks._transport.proxy import ProxySettings

_SSL_CONTEXTS: dict[tuple[str, int, int], ssl.SSLContext] = {}
_SSL_CONTEXTS_LOCK = threading.Lock()


def _frozen_context(ca_bundle: str) -> ssl.SSLContext:
    parent_check_hostname: Any = ssl.SSLContext.check_hostname

    class SharedSSLContext(ssl.SSLContext):
        """Refuses changes once shared; setting again what it already holds (as urllib3 does for
        each connection) is a no-op, so threads never write to it while others use it."""

        frozen = False

        def set_alpn_protocols(self, alpn_protocols: Any) -> None:
            if not self.frozen:
                super().set_alpn_protocols(alpn_protocols)
            elif list(alpn_protocols) != list(ALPN_PROTOCOLS):
                raise ValueError("a shared TLS context cannot change its ALPN protocols")

        def load_verify_locations(self, cafile: Any = None, capath: Any = None, cadata: Any = None) -> None:
            if not self.frozen:
                super().load_verify_locations(cafile, capath, cadata)
            elif (cafile, capath, cadata) != (ca_bundle, None, None):
                raise ValueError("a shared TLS context cannot trust other certificates")

        @ssl.SSLContext.verify_mode.setter  # type: ignore[attr-defined]
        def verify_mode(self, value: ssl.VerifyMode) -> None:
            if not self.frozen:
                ssl.SSLContext.verify_mode.fset(self, value)  # type: ignore[attr-defined]
            elif value != ssl.CERT_REQUIRED:
                raise ValueError("a shared TLS context always verifies certificates")

        def _set_check_hostname(self, value: bool) -> None:
            if not self.frozen:
                parent_check_hostname.__set__(self, value)
            elif not value:
                raise ValueError("a shared TLS context always checks host names")

        check_hostname = property(parent_check_hostname.__get__, _set_check_hostname)

    context = SharedSSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=ca_bundle)
    context.set_alpn_protocols(ALPN_PROTOCOLS)
    context.frozen = True
    return context


def shared_ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The process's one TLS context for a CA bundle (``True``: the bundle ``requests`` uses).

    Loading a system-size bundle costs a context most of a megabyte, so every hook verifying
    with the same bundle shares one: a triggerer with thousands of deferred sensors holds one.
    A bundle changed on disk (another size or modification time) gets a new context. The
    context verifies certificates and host names, and refuses to be changed once shared.
    """
    path = os.path.abspath(DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify))
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size)
    with _SSL_CONTEXTS_LOCK:
        context = _SSL_CONTEXTS.get(key)
        if context is None:
            context = _frozen_context(path)
            for old in [old for old in _SSL_CONTEXTS if old[0] == path]:
                del _SSL_CONTEXTS[old]
            _SSL_CONTEXTS[key] = context
    return context


class SharedTLSAdapter(HTTPAdapter):
    """An adapter whose connections all use one shared TLS context, which holds the CA bundle
    (``requests`` would otherwise have urllib3 load the bundle into a context per connection)."""

    def __init__(
        self, ssl_context: ssl.SSLContext, *, proxy: ProxySettings | None = None, **kwargs: Any
    ) -> None:
        self._ssl_context = ssl_context
        self._proxy = proxy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # The adapter alone decides about the proxy, for each URL (a redirect hop too): the
        # connection's proxy unless the host is in its no_proxy; never the environment's.
        proxy, url = self._proxy, request.url
        if proxy is not None and proxy.applies_to(url):
            kwargs["proxies"] = {url.split(":", 1)[0].lower(): proxy.url}
        else:
            kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through the proxy, Learnifier's certificate is verified with the shared context too
        # (requests would have urllib3 make one per connection); an https:// proxy's as well.
        proxy_kwargs.setdefault("ssl_context", self._ssl_context)
        proxy_kwargs.setdefault("proxy_ssl_context", self._ssl_context)
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # in the shared context already
