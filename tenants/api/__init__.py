"""The management API (DRF) under ``/api/v1/portal/``: accounts, people, invitations, audit.

Every viewset inherits ``tenants.api.base.ScopedViewSet``, which owns queryset scoping (through
``tenants.access``) and permissions (a role per action); errors are ``{message, code}``
(``tenants.api.errors``); lists are cursor pages ordered by id (``tenants.api.pagination``).
"""
