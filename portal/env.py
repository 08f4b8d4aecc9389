"""Strict readers for configuration from the environment.

Settings read every value through these helpers so that a typo in a deployment (``DEBUG=yes``,
``PORT=80a``) stops the process with a message naming the variable, instead of silently falling
back to a default.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path


class ConfigError(Exception):
    """A configuration value is present but not usable."""


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    # Only the two words: "yes", "1" or "on" in one place and not another is how configs drift.
    if value == "true":
        return True
    if value == "false":
        return False
    raise ConfigError(f"{name} must be 'true' or 'false', not {raw!r}")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


_COLOR = re.compile(r"#[0-9a-f]{6}")


def env_color(name: str, default: str) -> str:
    """A colour written ``#rrggbb`` (lower-cased): the one form the brand's CSS accepts."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if not _COLOR.fullmatch(value):
        raise ConfigError(f"{name} must be a colour written #rrggbb, not {raw!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE`` (Docker/systemd secrets)."""
    value = os.environ.get(name, "").strip()
    file_name = os.environ.get(f"{name}_FILE", "").strip()
    if value and file_name:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"{name}_FILE={file_name!r} is empty")
    return value


def local_secret(directory: Path, name: str, make: str = "token") -> str:
    """A secret generated once and kept under ``var/`` for the embedded profile.

    Lets ``make run`` work on a fresh machine with nothing configured; production sets the real
    value in the environment, and the ``portal.E00x`` deploy checks refuse to run without it.
    """
    path = directory / f"{name}.secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    directory.mkdir(parents=True, exist_ok=True)
    if make == "fernet":
        from cryptography.fernet import Fernet

        value = Fernet.generate_key().decode()
    else:
        value = secrets.token_urlsafe(50)
    # Write a private temporary file, then link it into place: link() fails if another process
    # (portal and worker start together) got there first, and then both use that one value.
    tmp = directory / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    try:
        os.link(tmp, path)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink()
    return value
