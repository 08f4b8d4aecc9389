"""Two partners with brands of their own (product name, colours, contacts, logo, one custom host
each), the personas of ``make_world`` around them, and images made on the spot."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import Client
from PIL import Image

from tenants.branding import forget_brands
from tenants.branding.lookup import stored_brand
from tenants.models import Account
from tenants.services import update_brand
from tests.factories import World, make_world

A_HOST = "portal.acme.example"
B_HOST = "ai.globex.example"


def image(fmt: str = "PNG", size: tuple[int, int] = (40, 20), color: str = "#c81e1e") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    data = image("PNG", (1, 1))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    ihdr = struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return data[:8] + ihdr + data[8 + len(ihdr) :]


@dataclass
class Branded:
    world: World
    a_logo: bytes
    b_logo: bytes

    def __getattr__(self, name: str):  # personas and accounts read straight from the world
        return getattr(self.world, name)

    def logo_url(self, partner: Account) -> str:
        url = stored_brand(partner.pk).brand.logo_url
        assert url is not None
        return url


@pytest.fixture
def branded(db) -> Branded:
    world = make_world()
    a_logo, b_logo = image(color="#0f766e"), image("WEBP", color="#7c3aed")
    brands = [
        (world.partner_a, "Acme Cloud", "#0f766e", "#f59e0b", "help@acme.example", A_HOST),
        (world.partner_b, "Globex AI", "#7c3aed", "#22c55e", "support@globex.example", B_HOST),
    ]
    footers = ["Acme Cloud is a service of Acme Inc.", "Globex AI, Springfield"]
    for (partner, name, primary, accent, support, host), footer, logo in zip(
        brands, footers, (a_logo, b_logo), strict=True
    ):
        changes = {
            "product_name": name,
            "primary_color": primary,
            "accent_color": accent,
            "support_email": support,
            "footer_text": footer,
        }
        update_brand(partner, changes=changes, hosts=[host], logo=logo, actor=None)
    # Services forget cached brands on commit; a test's transaction never commits.
    forget_brands()
    return Branded(world=world, a_logo=a_logo, b_logo=b_logo)


@pytest.fixture
def client_for(branded: Branded) -> Callable[..., Client]:
    """``client_for("a_owner", host=A_HOST)``: a client logged in as the persona (anonymous:
    not), sending that Host header."""

    def make(persona: str, host: str = "testserver") -> Client:
        client = Client(HTTP_HOST=host)
        if persona != "anonymous":
            client.force_login(getattr(branded, persona))
        return client

    return make
