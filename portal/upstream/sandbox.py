"""The bundled sandbox's control surface (``/_sandbox/...``, served only in its dev mode).

Used by ``seed_demo`` to register the demo parent and, after the sandbox lost its state file,
re-register the parent's secret and children under their known ids. Goes through the one
outbound client like every other call.
"""

from __future__ import annotations

from typing import Any

from portal.upstream.config import UpstreamConnection
from portal.upstream.registry import run_sync

# The control surface takes no credentials; the client requires some, and this one names itself
# in the sandbox's logs should it ever be sent elsewhere.
_CONTROL_CREDENTIAL = "sandbox-control"


class SandboxControl:
    def __init__(self, base_url: str) -> None:
        self.connection = UpstreamConnection(base_url=base_url, secret=_CONTROL_CREDENTIAL)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = run_sync(
            lambda client: client.request_json(self.connection, "POST", path, json=body)
        )
        return result

    def create_parent(self, *, name: str, secret: str | None = None) -> dict[str, str]:
        """A parent account; with ``secret``, that exact secret (re-linking after a restart)."""
        body: dict[str, Any] = {"name": name}
        if secret:
            body["secret"] = secret
        created = self._post("/_sandbox/parent/create", body)
        return {"id": str(created["id"]), "secret": str(created["secret"])}

    def import_child(self, *, parent_id: str, child_id: str, name: str, email: str = "") -> str:
        body: dict[str, Any] = {"parentId": parent_id, "id": child_id, "name": name}
        if email:
            body["email"] = email
        return str(self._post("/_sandbox/user/create", body)["id"])
