"""TLS: the server certificate verifies against the simulator's CA, and only against it."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest
import requests
from cryptography import x509

from learnifier_simulator import LearnifierSimulator


def has_ipv6_loopback() -> bool:
    """Tell whether this machine can listen on ``::1``."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_the_certificate_verifies_against_the_ca_file(sim: LearnifierSimulator) -> None:
    response = requests.get(f"{sim.base_url}/coursedesigns", auth=(sim.key, sim.secret), verify=sim.ca_file)

    assert sim.base_url.startswith("https://127.0.0.1:")
    assert response.status_code == 200


def test_the_certificate_fails_without_the_ca_file(sim: LearnifierSimulator) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sim.base_url}/coursedesigns", auth=(sim.key, sim.secret), verify=True)


def test_the_certificate_names_every_loopback_host(sim: LearnifierSimulator) -> None:
    assert sim.ca_file is not None
    pem = ssl.get_server_certificate(("127.0.0.1", sim.port))
    certificate = x509.load_pem_x509_certificate(pem.encode())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ca = x509.load_pem_x509_certificate(Path(sim.ca_file).read_bytes())

    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert certificate.issuer == ca.subject
    certificate.verify_directly_issued_by(ca)
    # Strict verification (the default of Python 3.13) needs the key identifiers as well.
    context = ssl.create_default_context(cafile=sim.ca_file)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    with (
        socket.create_connection(("127.0.0.1", sim.port)) as raw,
        context.wrap_socket(raw, server_hostname="localhost"),
    ):
        pass


def test_localhost_is_served_too() -> None:
    with LearnifierSimulator(host="localhost") as sim:
        response = requests.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), verify=sim.ca_file)

    assert sim.base_url.startswith("https://localhost:")
    assert response.status_code == 200


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback here")
def test_the_ipv6_loopback_is_served_too() -> None:
    with LearnifierSimulator(host="::1") as sim:
        response = requests.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), verify=sim.ca_file)

    assert sim.base_url.startswith("https://[::1]:")
    assert response.status_code == 200


def test_a_failed_handshake_does_not_disturb_the_server(sim: LearnifierSimulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port)) as raw:
        raw.sendall(b"GET /orgunits HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.recv(100)

    response = requests.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret), verify=sim.ca_file)
    assert response.status_code == 200


def test_plain_http_has_no_ca_file() -> None:
    with LearnifierSimulator(tls=False) as sim:
        response = requests.get(f"{sim.base_url}/orgunits", auth=(sim.key, sim.secret))
        connection = json.loads(sim.connection_json())

    assert sim.base_url.startswith("http://127.0.0.1:")
    assert sim.ca_file is None
    assert response.status_code == 200
    assert connection["extra"] == {}


def test_the_certificates_are_removed_on_stop() -> None:
    with LearnifierSimulator() as sim:
        assert sim.ca_file is not None
        ca_file = Path(sim.ca_file)
        assert ca_file.exists()

    assert not ca_file.parent.exists()
