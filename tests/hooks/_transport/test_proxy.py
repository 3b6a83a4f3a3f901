"""The hook through a real forward proxy (tinyproxy, see tests/forward_proxy.py) to the simulator.

HTTPS to the simulator tunnels through the proxy (``CONNECT``) and is verified end to end; the
proxy's credentials authenticate to the proxy and are never shown; a proxy that is down fails
clearly; ``no_proxy`` hosts and the environment's proxy variables are handled as documented.
"""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_learnifier.exceptions import LearnifierConnectionError
from airflow_provider_learnifier.hooks._transport.proxy import (
    ProxySettings,
    parse_proxy_url,
    proxy_from_extras,
)
from airflow_provider_learnifier.hooks._transport.redaction import SCRUBBER
from learnifier_simulator import LearnifierSimulator
from learnifier_simulator.tls import create_certificates
from tests.forward_proxy import ForwardProxy

#: tinyproxy's BasicAuth takes letters, digits, ".", "-" and "_" only; the percent-encoding of
#: other characters is tested on the parsed URL below.
PROXY_PASSWORD = "pr0xy.Pass-w0rd_x"
PROXY_USER = "corp-user"


@pytest.fixture
def proxy():
    with ForwardProxy(username=PROXY_USER, password=PROXY_PASSWORD) as running:
        yield running


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def proxied_requests(proxy: ForwardProxy) -> list[str]:
    """The request lines tinyproxy logged, e.g. ``CONNECT 127.0.0.1:4443 HTTP/1.1``."""
    return re.findall(r"Request \(file descriptor \d+\): (\S+ \S+)", proxy.log())


def secret_forms() -> list[str]:
    from urllib.parse import quote

    return [PROXY_PASSWORD, quote(PROXY_PASSWORD, safe="")]


def assert_no_proxy_secret(*texts: str) -> None:
    for text in texts:
        for form in secret_forms():
            assert form not in text


def error_texts(error: BaseException) -> list[str]:
    """The error, its repr and every exception chained to it, as text."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


# ------------------------------------------------------------------------------------ the tunnel


def test_https_tunnels_through_the_proxy_with_basic_proxy_auth(learnifier_simulator, proxy, make_hook):
    hook = make_hook(learnifier_simulator, proxy=proxy.url())

    org_units = hook.list_org_units()
    hook.create_org_unit(display_name="Through the proxy", external_id="proxied")

    assert org_units
    # Two requests over one tunnel: tinyproxy saw only the CONNECT, never the API requests inside.
    assert proxied_requests(proxy) == [f"CONNECT 127.0.0.1:{learnifier_simulator.port}"]
    assert [exchange.operation for exchange in learnifier_simulator.exchanges] == [
        ("GET", "/orgunits"),
        ("POST", "/orgunits"),
    ]
    # The proxy's credentials went to the proxy only, never to Learnifier.
    for exchange in learnifier_simulator.exchanges:
        assert "Proxy-Authorization" not in exchange.headers


def test_learnifier_s_certificate_is_verified_through_the_tunnel(
    learnifier_simulator, proxy, make_hook, tmp_path
):
    other_ca = create_certificates(tmp_path).ca_file  # a CA that did not sign the simulator's certificate
    hook = make_hook(learnifier_simulator, proxy=proxy.url(), verify=str(other_ca))

    with pytest.raises(LearnifierConnectionError, match="failed TLS verification") as caught:
        hook.list_org_units()

    assert caught.value.reached_server is False
    assert proxied_requests(proxy) == [f"CONNECT 127.0.0.1:{learnifier_simulator.port}"]
    assert learnifier_simulator.exchanges == []


def test_a_loopback_http_base_url_is_forwarded_by_the_proxy(proxy, make_hook):
    with LearnifierSimulator(seed="demo", tls=False) as simulator:
        hook = make_hook(simulator, proxy=proxy.url())
        assert hook.list_org_units()
        (exchange,) = simulator.exchanges
    assert proxied_requests(proxy) == [f"GET http://127.0.0.1:{simulator.port}/orgunits"]
    # tinyproxy strips the proxy's own header before forwarding.
    assert "Proxy-Authorization" not in exchange.headers


# ------------------------------------------------------------------------- failures and secrets


def test_wrong_proxy_credentials_fail_at_once_naming_the_proxy_not_the_password(
    learnifier_simulator, make_hook, caplog
):
    with ForwardProxy(username=PROXY_USER, password="the-right-one") as proxy:
        hook = make_hook(learnifier_simulator, proxy=proxy.url().replace("the-right-one", PROXY_PASSWORD))
        with caplog.at_level(logging.DEBUG), pytest.raises(LearnifierConnectionError) as caught:
            hook.list_org_units()
        requests_seen = proxied_requests(proxy)

    message = str(caught.value)
    # tinyproxy refuses a tunnel with 401 (other proxies with 407): either way, the proxy refused.
    assert f"the proxy http://127.0.0.1:{proxy.port} refused the credentials" in message
    assert "(401 Unauthorized)" in message
    assert caught.value.reached_server is False
    assert len(requests_seen) == 1  # a 407 is not retried: the same credentials get the same answer
    assert learnifier_simulator.exchanges == []
    assert_no_proxy_secret(*error_texts(caught.value), caplog.text)


def test_a_proxy_that_is_down_fails_naming_the_proxy_never_its_credentials(
    learnifier_simulator, make_hook, caplog, capfd, mocker
):
    mocker.patch("airflow_provider_learnifier.hooks.learnifier.time.sleep")
    with ForwardProxy(username=PROXY_USER, password=PROXY_PASSWORD) as proxy:
        url = proxy.url()
    # Stopped and gone: nothing listens on its port any more.
    hook = make_hook(learnifier_simulator, proxy=url, max_retries=2)

    with caplog.at_level(logging.DEBUG), pytest.raises(LearnifierConnectionError) as caught:
        hook.create_org_unit(display_name="Never sent", external_id="never")

    message = str(caught.value)
    assert f"the proxy http://127.0.0.1:{proxy.port} failed" in message
    assert "after 3 attempt(s)" in message
    # Nothing reached Learnifier, so even a POST was tried again.
    assert caught.value.reached_server is False
    logged = "".join(capfd.readouterr())  # the hook's retry warnings
    assert "POST /orgunits failed (the proxy" in logged and "retry 2 of 2" in logged
    assert learnifier_simulator.exchanges == []
    assert_no_proxy_secret(*error_texts(caught.value), caplog.text, logged)
    assert PROXY_USER not in message  # the message names the proxy by host and port only


def test_the_proxy_password_is_registered_with_the_secrets_masker_and_the_scrubber(
    learnifier_simulator, proxy, make_hook, mocker
):
    masked: list[str] = []
    mocker.patch("airflow_provider_learnifier.hooks._transport.redaction.mask_secret", masked.append)

    make_hook(learnifier_simulator, proxy=proxy.url()).list_org_units()

    token = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    # The password, and the Proxy-Authorization value made from it.
    assert {*secret_forms(), token, f"Basic {token}"} <= set(masked)
    # And with the hook's scrubber, which cleans every text from the server and the transport.
    echoed = f"proxy said: {PROXY_PASSWORD} / Proxy-Authorization: Basic {token}"
    assert SCRUBBER.scrub(echoed) == "proxy said: *** / Proxy-Authorization: ***"
    assert SCRUBBER.scrub(f"user {PROXY_USER}") == f"user {PROXY_USER}"  # the user name is no secret


def test_the_settings_repr_never_shows_the_proxy_credentials(learnifier_simulator, proxy, make_hook):
    settings = make_hook(learnifier_simulator, proxy=proxy.url()).settings
    assert settings.proxy is not None and settings.proxy.display == f"http://127.0.0.1:{proxy.port}"
    assert_no_proxy_secret(repr(settings))
    assert PROXY_USER not in repr(settings)


# -------------------------------------------------------------------------- no_proxy, environment


def test_a_no_proxy_host_is_reached_directly(learnifier_simulator, proxy, make_hook):
    hook = make_hook(learnifier_simulator, proxy=proxy.url(), no_proxy="intranet.example, 127.0.0.1")
    assert hook.list_org_units()
    assert proxied_requests(proxy) == []
    assert len(learnifier_simulator.exchanges) == 1


def test_a_no_proxy_list_naming_other_hosts_still_proxies(learnifier_simulator, proxy, make_hook):
    hook = make_hook(
        learnifier_simulator, proxy=proxy.url(), no_proxy=["localhost", "10.0.0.0/8", "127.0.0.1:1"]
    )
    assert hook.list_org_units()
    assert len(proxied_requests(proxy)) == 1


def test_the_environment_s_proxy_variables_are_ignored_by_default(
    learnifier_simulator, make_hook, monkeypatch
):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")
    hook = make_hook(learnifier_simulator)
    assert hook.list_org_units()
    assert hook.settings.proxy is None


def test_proxy_from_environment_uses_https_proxy_and_no_proxy(
    learnifier_simulator, proxy, make_hook, monkeypatch
):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:1")  # for http:// base URLs only
    hook = make_hook(learnifier_simulator, proxy_from_environment=True)
    assert hook.list_org_units()
    assert len(proxied_requests(proxy)) == 1

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = make_hook(learnifier_simulator, proxy_from_environment="true")
    assert direct.list_org_units()
    assert len(proxied_requests(proxy)) == 1


# -------------------------------------------------------------------------------- https:// proxy


def test_an_https_proxy_is_verified_and_tunnels(learnifier_simulator, make_hook, tmp_path):
    (tmp_path / "proxy").mkdir()
    proxy_tls = create_certificates(tmp_path / "proxy")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(learnifier_simulator.ca_file).read_bytes() + proxy_tls.ca_file.read_bytes())
    with ForwardProxy(
        username=PROXY_USER, password=PROXY_PASSWORD, tls_files=(proxy_tls.cert_file, proxy_tls.key_file)
    ) as proxy:
        hook = make_hook(learnifier_simulator, proxy=proxy.url(), verify=str(bundle))
        assert proxy.url().startswith("https://")
        assert hook.list_org_units()
        assert proxied_requests(proxy) == [f"CONNECT 127.0.0.1:{learnifier_simulator.port}"]

        # The proxy's certificate is verified too: not signed by the simulator's CA alone.
        unverified = make_hook(learnifier_simulator, proxy=proxy.url())
        with pytest.raises(LearnifierConnectionError) as caught:
            unverified.list_org_units()
        assert f"https://127.0.0.1:{proxy.port}" in str(caught.value)
        assert len(proxied_requests(proxy)) == 1


# ------------------------------------------------------------------------------ the extras parsed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://proxy.corp:3128", ProxySettings("http", "proxy.corp", 3128)),
        ("proxy.corp:8080", ProxySettings("http", "proxy.corp", 8080)),
        ("https://proxy.corp", ProxySettings("https", "proxy.corp", 443)),
        ("HTTP://[::1]:3128/", ProxySettings("http", "::1", 3128)),
        ("http://u%40corp:p%2Fw@proxy.corp:3128", ProxySettings("http", "proxy.corp", 3128, "u@corp", "p/w")),
    ],
)
def test_proxy_urls_are_read(value, expected):
    assert parse_proxy_url(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("socks5://proxy.corp:1080", "http:// or https:// proxy URL, not socks5://"),
        ("http://proxy.corp:99999", "invalid port"),
        ("http://proxy.corp:3128/path", "with no path"),
        ("http://", "names no host"),
        ("http://user:pa/ss@proxy.corp:3128", "not shown: it holds credentials"),
    ],
)
def test_malformed_proxy_urls_are_refused_without_repeating_credentials(value, message):
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_proxy_url(value)
    assert "pa/ss" not in str(caught.value)


def test_a_malformed_proxy_extra_makes_the_connection_unusable(learnifier_simulator, make_hook):
    hook = make_hook(learnifier_simulator, proxy="ftp://proxy.corp")
    with pytest.raises(ValueError, match=r"connection 'learnifier_test' is not usable: extra 'proxy'"):
        hook.list_org_units()


def test_proxy_and_proxy_from_environment_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        proxy_from_extras({"proxy": "http://p:1", "proxy_from_environment": True}, "https://l.example")


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        (("learnifier.com",), "https://learnifier.com/orgunits", False),
        (("learnifier.com",), "https://api.learnifier.com/x", False),
        ((".learnifier.com",), "https://learnifier.com/x", False),
        (("learnifier.com",), "https://notlearnifier.com/x", True),
        (("learnifier.com:8443",), "https://learnifier.com/x", True),
        (("learnifier.com:443",), "https://learnifier.com/x", False),
        (("10.0.0.0/8",), "https://10.1.2.3/x", False),
        (("10.0.0.0/8",), "https://11.1.2.3/x", True),
        (("::1",), "https://[::1]:4443/x", False),
        (("*",), "https://anything.example/x", False),
        ((), "https://learnifier.com/x", True),
    ],
)
def test_no_proxy_entries_match_hosts_domains_networks_and_ports(no_proxy, url, proxied):
    assert ProxySettings("http", "proxy.corp", 3128, no_proxy=no_proxy).applies_to(url) is proxied


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_no_display_or_error_of_a_proxy_url_repeats_its_password(text):
    from urllib.parse import quote

    password = "Zq9" + text  # a prefix no message holds by chance
    encoded = quote(password, safe="")
    for url in (f"http://user:{encoded}@proxy.corp:3128", f"http://user:{encoded}@proxy.corp:3128/x"):
        try:
            settings = parse_proxy_url(url)
        except ValueError as err:
            assert password not in str(err) and encoded not in str(err)
        else:
            assert settings.password == password
            assert password not in settings.display and password not in repr(settings)
            assert password in settings.secrets
