"""Logos: only real PNG, JPEG and WebP images within the byte and pixel caps are kept, and they
are served with their own type, nosniff and long caching."""

from __future__ import annotations

import io
import random

import pytest
from django.test import Client, override_settings
from PIL import Image

from tenants.branding.logo import LogoRefused, validate_logo
from tenants.models import BrandLogo
from tests.branding.conftest import image, png_declaring

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")],
)
def test_png_jpeg_and_webp_are_accepted_with_their_decoded_type(fmt, content_type):
    logo = validate_logo(image(fmt, (120, 30)))
    assert (logo.content_type, logo.width, logo.height) == (content_type, 120, 30)
    assert len(logo.sha256) == 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The logo file is empty."),
        (b"<html><script>alert(1)</script></html>", "The file is not a PNG, JPEG or WebP image."),
        (b"GIF89a" + b"\0" * 40, "The file is not a PNG, JPEG or WebP image."),
        (SVG, "SVG logos are not accepted (an SVG can carry scripts)"),
        (b"\n  <svg viewBox='0 0 1 1'></svg>", "SVG logos are not accepted"),
    ],
)
def test_anything_else_is_refused_with_a_readable_reason(data, message):
    with pytest.raises(LogoRefused) as refused:
        validate_logo(data)
    assert message in str(refused.value)


def test_a_gif_is_refused_even_though_it_is_an_image():
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, format="GIF")
    with pytest.raises(LogoRefused, match="not a PNG, JPEG or WebP"):
        validate_logo(buffer.getvalue())


@override_settings(PORTAL_BRAND_LOGO_MAX_BYTES=2048)
def test_a_logo_over_the_byte_cap_is_refused_before_decoding():
    noisy = Image.frombytes("RGB", (64, 64), random.Random(8).randbytes(64 * 64 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 2048
    with pytest.raises(LogoRefused, match=r"The logo is \d+ KiB; the limit is 2 KiB\."):
        validate_logo(buffer.getvalue())


@override_settings(PORTAL_BRAND_LOGO_MAX_PIXELS=100 * 100)
def test_a_logo_over_the_pixel_cap_is_refused():
    with pytest.raises(LogoRefused) as refused:
        validate_logo(image("PNG", (200, 60)))
    assert str(refused.value) == (
        "The logo is 200 x 60 pixels (12,000); the limit is 10,000 pixels (for example 100 x 100)."
    )
    validate_logo(image("PNG", (100, 100)))  # exactly at the cap


def test_a_small_file_declaring_a_huge_canvas_is_refused_without_decoding_it():
    with pytest.raises(LogoRefused, match=r"far too large|the limit is"):
        validate_logo(png_declaring(100_000, 100_000))
    with pytest.raises(LogoRefused, match=r"The logo is 5000 x 5000 pixels"):
        validate_logo(png_declaring(5000, 5000))


def test_a_truncated_image_is_refused_as_damaged():
    data = image("PNG", (200, 200), "#123456")
    with pytest.raises(LogoRefused, match=r"damaged|could not be read"):
        validate_logo(data[: len(data) // 2])


def test_an_animated_image_is_refused():
    frames = [Image.new("RGB", (20, 20), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(LogoRefused, match="Animated"):
        validate_logo(buffer.getvalue())


# -- serving ---------------------------------------------------------------------------------


def test_a_logo_is_served_with_its_type_nosniff_and_a_year_of_caching(branded):
    url = branded.logo_url(branded.partner_b)
    assert url.endswith(".webp")
    response = Client().get(url)
    assert response.status_code == 200
    assert response.content == branded.b_logo
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    etag = response["ETag"]
    again = Client().get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""


def test_a_logo_is_served_on_any_accepted_host_without_a_login(branded):
    from tests.branding.conftest import A_HOST

    url = branded.logo_url(branded.partner_a)
    assert Client(HTTP_HOST=A_HOST).get(url).status_code == 200


def test_unknown_or_mismatched_logo_urls_are_404(branded):
    url = branded.logo_url(branded.partner_a)
    digest = url.rsplit("/", 1)[1].split(".")[0]
    assert Client().get(f"/branding/logo/{digest}.jpg").status_code == 404
    assert Client().get(f"/branding/logo/{'0' * 64}.png").status_code == 404
    assert Client().get("/branding/logo/not-a-hash.png").status_code == 404
    assert Client().post(url).status_code == 405


def test_the_logo_url_changes_with_the_logo(branded):
    from tenants.services import update_brand

    before = branded.logo_url(branded.partner_a)
    update_brand(branded.partner_a, logo=image("JPEG", (50, 50)), actor=None)
    after = branded.logo_url(branded.partner_a)
    assert after != before
    assert after.endswith(".jpg")
    assert Client().get(before).status_code == 404
    assert BrandLogo.objects.filter(brand__partner=branded.partner_a).count() == 1
