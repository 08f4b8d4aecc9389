"""The usage tests reuse the personas of the page and API tests (imported, not copied)."""

from __future__ import annotations

from tests.pages.conftest import HTMX, PERSONAS, client_for, pages  # noqa: F401
