"""TLS for the simulator: a throwaway certificate authority and a server certificate it signs.

The server certificate names ``localhost``, ``127.0.0.1`` and ``::1``. Clients verify it against
the CA certificate, exactly as they verify Learnifier's: nobody needs to turn verification off.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from pathlib import Path

#: How long the certificates are valid; a simulator never runs that long.
VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of a simulator's TLS setup."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Learnifier API simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def create_certificates(directory: Path) -> TlsFiles:
    """Create a CA and a server certificate for loopback hosts, and write them to ``directory``.

    ``directory`` should be private to the user (as :func:`tempfile.mkdtemp` makes it): it
    receives the server's private key.
    """
    now = datetime.now(timezone.utc)
    not_before = now - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Learnifier API simulator CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return TlsFiles(
        ca_file=_write_pem(directory / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM)),
        cert_file=_write_pem(directory / "server.pem", server_cert.public_bytes(serialization.Encoding.PEM)),
        key_file=_write_pem(
            directory / "server-key.pem",
            server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        ),
    )


def valid_for(files: TlsFiles, margin: timedelta) -> bool:
    """Tell whether ``files`` all exist and both certificates stay valid for at least ``margin``."""
    if not all(path.is_file() for path in (files.ca_file, files.cert_file, files.key_file)):
        return False
    expiry = min(
        x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc
        for path in (files.ca_file, files.cert_file)
    )
    return expiry - datetime.now(timezone.utc) >= margin


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """Return a server-side TLS context (TLS 1.2 or later) that presents the server certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_file, files.key_file)
    return context
