from __future__ import annotations

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.live", "tests.fixtures.browser"]
