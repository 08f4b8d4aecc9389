"""The lean async proxy: ``/v1/...`` and ``/api/v1/...`` forwarded upstream as the right tenant.

Read ``app.py`` first: it is the whole hot path, top to bottom. The other modules are its steps:

- ``wire``: the ASGI request as it arrived (path checks), body reading, answers, disconnects;
- ``routes``: the route table (scope, metering, bot restriction per upstream route);
- ``acting``: the acting account (token account or run-as target) and its upstream connection,
  from the cached account tree;
- ``forward``: the upstream call and the streamed relay of its answer;
- ``idempotency``: ``Idempotency-Key`` on POSTs;
- ``errors``: the portal's refusals in the upstream's ``{message, code}`` shape.

``portal/asgi.py`` routes to ``proxy_application`` before Django, so none of Django's request
machinery runs here; the modules import Django models and settings, so import this package only
after Django is set up.
"""

from __future__ import annotations

from tenants.proxy.acting import clear_local_cache, forget_account
from tenants.proxy.app import proxy_application

__all__ = ["clear_local_cache", "forget_account", "proxy_application"]
