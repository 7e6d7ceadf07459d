"""TLS: HTTPS with a generated CA that clients trust through ca_file / ca_pem / cert_dir."""

import ssl

import pytest
import requests

from fake_registry import CertificateAuthority


def test_https_with_ca_file(fake_registry_factory):
    reg = fake_registry_factory(tls=True)
    assert reg.url.startswith("https://127.0.0.1:")
    r = requests.get(f"{reg.url}/v2/", verify=str(reg.ca_file))
    assert r.status_code == 200
    assert reg.ca_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert (reg.cert_dir / "ca.crt").read_text() == reg.ca_pem


def test_untrusted_client_fails(fake_registry_factory):
    reg = fake_registry_factory(tls=True)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{reg.url}/v2/")
    # the failed handshake did not hurt the server
    assert requests.get(f"{reg.url}/v2/", verify=str(reg.ca_file)).status_code == 200


def test_localhost_name_is_valid(fake_registry_factory):
    reg = fake_registry_factory(tls=True)
    assert requests.get(f"https://localhost:{reg.port}/v2/", verify=str(reg.ca_file)).status_code == 200


def test_certificate_for_chosen_names():
    ca = CertificateAuthority()
    try:
        cert_pem, _ = ca.issue(["registry.example", "10.0.0.1"])
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == ["registry.example"]
        assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.1"]
        assert isinstance(ca.server_context(["registry.example"]), ssl.SSLContext)
    finally:
        ca.close()


def test_tls_with_basic_auth(fake_registry_factory):
    reg = fake_registry_factory(tls=True, users=["u:p"])
    assert requests.get(f"{reg.url}/v2/", verify=str(reg.ca_file), auth=("u", "p")).status_code == 200
