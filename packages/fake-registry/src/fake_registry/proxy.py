"""The HTTPS impersonation proxy (``FakeRegistry(proxy=True)``, then ``reg.proxy``) and
:func:`forward_request`, the proxy's forwarding as a function for a request handler of your own.

Not in the top-level API: most tests use ``reg.proxy`` and never name these types.
"""

from fake_registry._proxy import ImpersonationProxy, Upstream, forward_request

__all__ = ["ImpersonationProxy", "Upstream", "forward_request"]
