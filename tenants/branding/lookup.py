"""Finding brands cheaply: this process's memory, then the shared cache, then the database.

Every page shows a brand and every request to the pages has its Host checked, so neither may
cost a query when warm. Two layers in front of the database:

1. **In-process**: partner pk -> ``Brand`` (or "none of its own"), and the whole host map
   (host -> partner pk), kept while the shared *epoch* is unchanged. Each process reads the
   epoch (one small key) at most once every ``CHECK_SECONDS``.
2. **Shared cache** (Redis): the same values under keys that include the epoch, filled from
   the database on a miss. With the database cache backend (embedded profile) this layer is
   skipped, since reading the brand row costs no more than reading the cache table.

``tenants.services.branding`` calls ``forget_brands`` once a change is committed: it writes a
new epoch, so the shared keys of the old one are never read again (they expire), this process
forgets at once, and every other process within ``CHECK_SECONDS``. A fill that read the database
just before a change committed lands under the old epoch, where nobody looks any more.

When the cache cannot be reached, lookups go to the database (slower, never stale).
Nothing here is imported by the proxy (``tenants/proxy/``): brands are for pages and e-mails.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Length

from tenants.branding.brand import Brand, operator_brand
from tenants.branding.logo import EXTENSIONS
from tenants.models import Brand as BrandRow
from tenants.models import BrandHost, BrandLogo

logger = logging.getLogger("tenants.branding")

CHECK_SECONDS = 1.0
SHARED_TTL = 3600
EPOCH_KEY = "branding:epoch"
_NONE = "-"  # the shared cache's "this partner has no brand of its own"
LOGO_PATH = "/branding/logo/{sha256}.{extension}"
BRAND_FIELDS = ("product_name", "primary_color", "accent_color", "support_email", "footer_text")


def logo_path(sha256: str, content_type: str) -> str:
    return LOGO_PATH.format(sha256=sha256, extension=EXTENSIONS[content_type])


class _Local:
    """This process's copy, valid for one epoch. Shared by the threads of sync views."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.epoch: str | None = None
        self.checked_at = float("-inf")
        self.brands: dict[int, Brand | None] = {}
        self.hosts: dict[str, int] | None = None

    def clear(self) -> None:
        with self.lock:
            self.epoch = None
            self.checked_at = float("-inf")
            self.brands = {}
            self.hosts = None


_local = _Local()


def _epoch() -> str | None:
    """The shared epoch, read at most every ``CHECK_SECONDS``; None when the cache is down."""
    now = time.monotonic()
    with _local.lock:
        if _local.epoch is not None and now - _local.checked_at < CHECK_SECONDS:
            return _local.epoch
    try:
        value = cache.get(EPOCH_KEY)
        if value is None:  # a new cache: start an epoch (or take the one another process set)
            fresh = secrets.token_hex(8)
            value = fresh if cache.add(EPOCH_KEY, fresh, timeout=None) else cache.get(EPOCH_KEY)
    except Exception:
        logger.warning("branding: the cache is unreachable; reading brands from the database")
        _local.clear()
        return None
    with _local.lock:
        if value != _local.epoch:
            _local.brands, _local.hosts = {}, None
            _local.epoch = value
        _local.checked_at = now
    return str(value) if value is not None else None


def _shared(epoch: str | None, key: str, load: Any) -> Any:
    """The value under ``key`` for this epoch, loaded and stored on a miss.

    Only when the shared cache is cheaper than the database: the database cache backend (the
    embedded profile) reads the same database, and each of its writes costs several queries.
    """
    if epoch is None or isinstance(caches["default"], DatabaseCache):
        return load()
    shared_key = f"branding:{epoch}:{key}"
    try:
        value = cache.get(shared_key)
    except Exception:
        return load()
    if value is None:
        value = load()
        try:
            cache.add(shared_key, value, timeout=SHARED_TTL)
        except Exception:
            logger.warning("branding: could not fill the cache")
    return value


def _load_partner(partner_pk: int) -> dict[str, Any] | str:
    first_host = BrandHost.objects.filter(brand=OuterRef("pk")).order_by("position", "pk")
    row = (
        BrandRow.objects.filter(partner_id=partner_pk)
        .annotate(links_host=Subquery(first_host.values("host")[:1]))
        .values(
            *BRAND_FIELDS,
            "links_host",
            "logo__sha256",
            "logo__content_type",
        )
        .first()
    )
    return dict(row) if row is not None else _NONE


def _brand_of(partner_pk: int, values: dict[str, Any] | str) -> Brand | None:
    if not isinstance(values, dict):
        return None
    sha256, content_type = values["logo__sha256"], values["logo__content_type"]
    return Brand(
        **{field: values[field] for field in BRAND_FIELDS},
        logo_url=logo_path(sha256, content_type) if sha256 else None,
        partner_id=partner_pk,
        links_host=values["links_host"],
    )


def partner_brand(partner_pk: int) -> Brand | None:
    """The partner's own brand; None when it has not set one (it shows the operator's)."""
    epoch = _epoch()
    with _local.lock:
        if epoch is not None and partner_pk in _local.brands:
            return _local.brands[partner_pk]
    values = _shared(epoch, f"partner:{partner_pk}", lambda: _load_partner(partner_pk))
    brand = _brand_of(partner_pk, values)
    with _local.lock:
        if epoch is not None and _local.epoch == epoch:
            _local.brands[partner_pk] = brand
    return brand


def brand_for_partner_pk(partner_pk: int) -> Brand:
    return partner_brand(partner_pk) or operator_brand()


def _load_hosts() -> dict[str, int]:
    return dict(BrandHost.objects.values_list("host", "brand__partner_id"))


def partner_for_host(host: str) -> int | None:
    """The partner that claimed ``host`` (normalised), if any."""
    epoch = _epoch()
    with _local.lock:
        hosts = _local.hosts if epoch is not None else None
    if hosts is None:
        hosts = _shared(epoch, "hosts", _load_hosts)
        with _local.lock:
            if epoch is not None and _local.epoch == epoch:
                _local.hosts = hosts
    return hosts.get(host)


def cached_partner_for_host(host: str) -> tuple[bool, int | None]:
    """``(True, partner pk or None)`` when this process can answer from memory alone."""
    now = time.monotonic()
    with _local.lock:
        if (
            _local.hosts is not None
            and _local.epoch is not None
            and now - _local.checked_at < CHECK_SECONDS
        ):
            return True, _local.hosts.get(host)
    return False, None


def forget_brands() -> None:
    """After a committed change: every process stops using what it cached (see module doc)."""
    _local.clear()
    try:
        cache.set(EPOCH_KEY, secrets.token_hex(8), timeout=None)
    except Exception:
        logger.warning("branding: could not reach the cache to announce a brand change")


@dataclass(frozen=True, slots=True)
class LogoInfo:
    url: str
    content_type: str
    width: int
    height: int
    size: int


@dataclass(frozen=True, slots=True)
class StoredBrand:
    """A partner's brand as stored, read fresh (for the Branding page and the API)."""

    brand: Brand
    custom: bool  # False: no brand of its own, ``brand`` is the operator's
    hosts: list[str]
    logo: LogoInfo | None
    updated_at: datetime | None


def stored_brand(partner_pk: int) -> StoredBrand:
    row = BrandRow.objects.filter(partner_id=partner_pk).first()
    if row is None:
        return StoredBrand(
            brand=operator_brand(), custom=False, hosts=[], logo=None, updated_at=None
        )
    hosts = list(row.hosts.values_list("host", flat=True))
    logo = (
        BrandLogo.objects.filter(brand=row)
        .annotate(size=Length("data"))
        .values("sha256", "content_type", "width", "height", "size")
        .first()
    )
    values = {
        **{field: getattr(row, field) for field in BRAND_FIELDS},
        "links_host": hosts[0] if hosts else None,
        "logo__sha256": logo["sha256"] if logo else None,
        "logo__content_type": logo["content_type"] if logo else None,
    }
    brand = _brand_of(partner_pk, values)
    assert brand is not None
    info = None
    if logo is not None and brand.logo_url is not None:
        info = LogoInfo(
            url=brand.logo_url,
            content_type=logo["content_type"],
            width=logo["width"],
            height=logo["height"],
            size=logo["size"],
        )
    return StoredBrand(brand=brand, custom=True, hosts=hosts, logo=info, updated_at=row.updated_at)


def clear_local_cache() -> None:
    """Forget this process's copy only (tests: the database under it was rolled back)."""
    _local.clear()
