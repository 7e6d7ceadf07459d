"""The connection layer under ``registry.client``: HTTP/1.1 framing on h11 (``framing``), pooled connections,
proxies and redirects (``connections``), and the TLS and connection options a source asks for
(``transport``). Private to ``registry``: commands talk to registries through ``RegistryClient``.
"""
