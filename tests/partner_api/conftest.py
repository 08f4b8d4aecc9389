from __future__ import annotations

from dataclasses import dataclass

import pytest

from tenants.models import Account
from tenants.services import issue_token, onboard_tenant
from tests.factories import make_partner


@dataclass
class Partners:
    """Two partners on the live sandbox: A with a tree (A1 ─ A1a, A2), B with one tenant."""

    a: Account
    a1: Account
    a1a: Account
    a2: Account
    b: Account
    b1: Account
    tokens: dict[str, str]

    def auth(self, name: str, scheme: str = "Bearer") -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"{scheme} {self.tokens[name]}"}


@pytest.fixture
def partners(db, sandbox) -> Partners:
    def partner(name: str) -> Account:
        parent = sandbox.create_parent(name)
        return make_partner(name, upstream_url=sandbox.url, secret=parent.secret)

    a, b = partner("Partner A"), partner("Partner B")
    a1 = onboard_tenant(parent=a, name="A One", email="one@a.example")
    a1a = onboard_tenant(parent=a1, name="A One Sub", email="sub@a.example")
    a2 = onboard_tenant(parent=a, name="A Two", email="two@a.example")
    b1 = onboard_tenant(parent=b, name="B One", email="one@b.example")
    tokens = {
        name: issue_token(account, name=name, scopes=["*"], actor=None).plaintext
        for name, account in {"a": a, "a1": a1, "a1a": a1a, "a2": a2, "b": b, "b1": b1}.items()
    }
    tokens["a_list_only"] = issue_token(a, name="ro", scopes=["user:list"], actor=None).plaintext
    return Partners(a=a, a1=a1, a1a=a1a, a2=a2, b=b, b1=b1, tokens=tokens)
