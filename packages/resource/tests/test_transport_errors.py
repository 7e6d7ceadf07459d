"""One readable reason for connection failures: TLS hints and proxies (SPEC A.2.8, A.2.10)."""

from __future__ import annotations

import ssl

import requests
import urllib3

from registry_image_resource.registry.errors import describe_exception


def wrapped(inner: BaseException) -> requests.RequestException:
    """What requests raises: its exception around urllib3's MaxRetryError around the cause."""
    retry = urllib3.exceptions.MaxRetryError(None, "https://registry.example/v2/", reason=inner)  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(retry)


def test_untrusted_certificate_points_at_ca_certs() -> None:
    err = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    err.verify_message = "self-signed certificate"
    assert describe_exception(wrapped(urllib3.exceptions.SSLError(err))) == (
        "TLS certificate verify failed: self-signed certificate (the registry's certificate is not "
        "trusted: add its CA to source.ca_certs)"
    )


def test_refused_client_certificate_points_at_client_cert() -> None:
    err = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    err.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert describe_exception(wrapped(urllib3.exceptions.SSLError(err))) == (
        "TLS handshake refused by the registry: tlsv13 alert certificate required (it wants a client "
        "certificate it trusts: set source.client_cert and source.client_key)"
    )


def test_other_ssl_errors_keep_openssl_text() -> None:
    err = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    err.reason = "WRONG_VERSION_NUMBER"
    assert describe_exception(wrapped(urllib3.exceptions.SSLError(err))) == (
        "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)"
    )


def test_proxy_failure_says_proxy_and_never_its_url() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    proxy = urllib3.exceptions.ProxyError("Unable to connect to proxy", refused)
    retry = urllib3.exceptions.MaxRetryError(None, "https://registry.example/v2/", reason=proxy)  # type: ignore[arg-type]
    text = describe_exception(requests.exceptions.ProxyError(retry))
    assert text == "unable to connect to the proxy (HTTPS_PROXY/HTTP_PROXY): [Errno 111] Connection refused"
