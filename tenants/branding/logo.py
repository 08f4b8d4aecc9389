"""Checking an uploaded logo: a real PNG, JPEG or WebP, within the byte and pixel caps.

The upload is decoded in full with Pillow, restricted to those three formats: a file that only
claims to be an image (a renamed HTML page, a truncated or corrupt file) fails the decode. SVG is
refused outright, since an SVG is a document that can carry scripts. The pixel count is read
from the header and checked *before* decoding, so a small file declaring a huge canvas (a
decompression bomb) is refused without allocating it. The original bytes are kept as they came
(no re-encoding, no quality loss) and served only with their decoded type and ``nosniff``.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, UnidentifiedImageError

# Pillow's format name -> the Content-Type the logo is served with, and its URL extension.
FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
}
EXTENSIONS = {content_type: extension for content_type, extension in FORMATS.values()}
ACCEPTED = "a PNG, JPEG or WebP image"


class LogoRefused(ValueError):
    """An upload that is not an acceptable logo; the message says why, fit to show."""


@dataclass(frozen=True, slots=True)
class Logo:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def describe_bytes(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} bytes"


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head


def check_size(size: int) -> None:
    """Refuse an upload by its size alone (before reading it, when the size is known)."""
    limit = settings.PORTAL_BRAND_LOGO_MAX_BYTES
    if size > limit:
        raise LogoRefused(
            f"The logo is {describe_bytes(size)}; the limit is {describe_bytes(limit)}."
        )


def validate_logo(data: bytes) -> Logo:
    """``data`` as a ``Logo`` if it is one we serve; ``LogoRefused`` says why not."""
    if not data:
        raise LogoRefused("The logo file is empty.")
    check_size(len(data))
    if _looks_like_svg(data):
        raise LogoRefused(
            f"SVG logos are not accepted (an SVG can carry scripts): upload {ACCEPTED}."
        )
    max_pixels = settings.PORTAL_BRAND_LOGO_MAX_PIXELS
    with warnings.catch_warnings():
        # Pillow warns (then raises) about huge canvases; both are a refusal here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except UnidentifiedImageError:
            raise LogoRefused(f"The file is not {ACCEPTED}.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise LogoRefused(_too_many_pixels(None, max_pixels)) from None
        except (OSError, SyntaxError, ValueError):
            raise LogoRefused(f"The file could not be read as {ACCEPTED}.") from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise LogoRefused(_too_many_pixels((width, height), max_pixels))
            if getattr(image, "n_frames", 1) > 1:
                raise LogoRefused("Animated images are not accepted as a logo.")
            content_type = FORMATS[str(image.format)][0]
            try:
                image.load()  # the full decode: truncated or corrupt data fails here
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
                raise LogoRefused(
                    f"The file is damaged: it could not be decoded as {ACCEPTED}."
                ) from None
    return Logo(
        data=data,
        content_type=content_type,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _too_many_pixels(size: tuple[int, int] | None, limit: int) -> str:
    side = int(limit**0.5)
    example = f"for example {side} x {side}"
    if size is None:
        return f"The image is far too large; a logo has at most {limit:,} pixels ({example})."
    width, height = size
    return (
        f"The logo is {width} x {height} pixels ({width * height:,}); "
        f"the limit is {limit:,} pixels ({example})."
    )
