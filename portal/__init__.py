"""The Django project: settings, URLs, ASGI entry point, Celery app, the outbound upstream client
(``portal.upstream``) and the bundled sandbox upstream (``portal.sandbox``)."""

from __future__ import annotations
