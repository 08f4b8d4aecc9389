"""The OpenAPI schema and the Swagger UI page, served offline."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.api.conftest import PREFIX

pytestmark = pytest.mark.django_db


def test_the_schema_generates_and_validates_without_a_warning():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = out.getvalue()
    for path in ("/accounts/", "/accounts/{id}/close/", "/memberships/{id}/", "/audit-events/"):
        assert f"{PREFIX}{path}:" in schema


def test_the_schema_is_served_and_lists_only_the_management_api():
    response = APIClient().get(f"{PREFIX}/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert paths
    assert all(path.startswith(f"{PREFIX}/") for path in paths)
    error = response.json()["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"message", "code"}


def test_the_swagger_page_loads_only_local_assets():
    response = APIClient().get(f"{PREFIX}/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, html
    for url in urls:
        assert not url.startswith(("http:", "https:", "//")), url
    assets = [url for url in urls if url.startswith("/static/")]
    assert {url.rsplit("/", 1)[-1] for url in assets} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), url
    script = next(url for url in urls if "script" in url and not url.startswith("/static/"))
    body = APIClient().get(script).content.decode()
    assert f"{PREFIX}/schema/" in body
    assert "http://" not in body.replace("http://testserver", "")
