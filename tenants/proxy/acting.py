"""Who a call acts as: the token's account or a run-as target in its subtree, and its upstream.

The account tree is read from a two-level cache so that a warm call touches no database:

1. this process's memory (``PROXY_ACCOUNT_CACHE_SECONDS``, a few seconds), holding ready
   objects, the partner's ``UpstreamConnection`` with its decrypted secret included;
2. the shared cache (Redis or the database cache, ``PROXY_ACCOUNT_SHARED_CACHE_SECONDS``),
   holding plain values, the secret still encrypted: a decrypted secret never leaves the
   process that needs it;
3. on a miss of both, one database query through ``sync_to_async``.

Services that change an account's status, or a partner's upstream connection, call
``forget_account`` so that every worker sees the change within the in-process TTL instead of
the shared one.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.db.models.functions import Length

from portal.upstream import UpstreamConnection
from tenants import crypto
from tenants.limits import LEVEL_FIELDS, Level, level_values
from tenants.models import Account
from tenants.proxy.errors import ProxyError, not_authenticated, not_authorized

# Upstream headers (UPSTREAM.md §1, §3.5): any case, both id spellings, and the e-mail form.
RUN_AS_ID_HEADERS = ("x-runas-user-id", "x-runas-userid")
RUN_AS_EMAIL_HEADER = "x-runas-child-user-email"
# v2: records carry the lineage's limits (``levels``); v1 entries are simply never read.
_SHARED_PREFIX = "proxy:v2:"
# Unknown run-as ids are remembered briefly too, so that guessing ids cannot turn every
# request into a database query; a tenant onboarded a moment ago waits at most this long.
_NEGATIVE_SECONDS = 1.0
_MAX_LOCAL_ENTRIES = 50_000

logger = logging.getLogger("tenants.proxy")


@dataclass(frozen=True, slots=True)
class AccountNode:
    """What the hot path needs of one account. Built from the database, never from a request."""

    pk: int
    public_id: str
    path: str  # "/1/7/42/"
    name: str
    partner_pk: int
    # Why calls as this account are refused: it, or an account above it, is not active.
    refusal: str | None
    # The limits of the partner down to this account (tenants.limits admits against them all).
    levels: tuple[Level, ...] = ()

    @property
    def is_partner(self) -> bool:
        return self.path == f"/{self.pk}/"

    def is_within(self, ancestor_path: str) -> bool:
        return self.path.startswith(ancestor_path)


@dataclass(frozen=True, slots=True)
class Acting:
    """The resolved identity of a call: as whom, and with which upstream connection."""

    account: AccountNode
    connection: UpstreamConnection

    @property
    def run_as(self) -> str | None:
        """The upstream child id to act as; the partner itself acts with its own secret."""
        return None if self.account.is_partner else self.account.public_id


# -- resolution --------------------------------------------------------------------------------


async def resolve(
    headers: dict[str, str], *, account_id: int, account_path: str, may_run_as: bool
) -> Acting:
    """The acting account for a token of ``account_id`` and the request's run-as headers.

    A run-as target that is unknown, or outside the token's subtree (a sibling, a parent,
    another partner's tenant) is refused exactly as the upstream refuses a bad target: 401.
    """
    target_id = next((headers[name] for name in RUN_AS_ID_HEADERS if headers.get(name)), "")
    target_email = headers.get(RUN_AS_EMAIL_HEADER, "")
    if target_id or target_email:
        if not may_run_as:
            raise not_authenticated("Session tokens cannot act as another account")
        if target_id:
            account = await account_by_public_id(target_id.strip())
        else:
            account = await account_by_email(account_path, target_email.strip())
        if account is None or not account.is_within(account_path):
            raise not_authenticated()
    else:
        account = await account_by_pk(account_id)
        if account is None:
            raise not_authenticated()
    if account.refusal is not None:
        raise not_authorized(account.refusal)
    return Acting(account, await connection_for(account.partner_pk))


# -- the cache ---------------------------------------------------------------------------------
#
# A hot entry is never reloaded by the calls that need it: a call in the last fifth of the
# entry's life starts one reload in the background and goes on with the value it has, so a
# busy account's calls do not queue behind the shared cache or the database every few seconds.
# An entry past its life is loaded again before use, once for all the calls that want it at
# that moment (they wait for the same load), never once per call. The bound stays what the
# module docstring says: no value is used longer than ``PROXY_ACCOUNT_CACHE_SECONDS``.

_REFRESH_AT = 0.8  # of the entry's life


@dataclass(slots=True)
class _Entry:
    value: Any
    refresh_at: float
    expires_at: float


_local: dict[str, _Entry] = {}
# Loads under way, by key and the generation they began in: each a task of the event loop that
# started it, so that a caller that leaves (its client went away) does not cancel the load the
# others wait for.
_loading: dict[tuple[str, int], asyncio.Task[Any]] = {}
# Bumped by ``forget_account`` and ``clear_local_cache`` (from any thread): a load that began
# before must not put back what was just forgotten, nor answer a caller that came after.
_generation = 0


async def _cached[T](
    key: str, load: Callable[[], Awaitable[T | None]], *, negative: bool = False
) -> T | None:
    """Value for ``key`` from memory, else ``load()`` (which may use the shared cache)."""
    now = time.monotonic()
    entry = _local.get(key)
    if entry is not None and now < entry.expires_at:
        if now >= entry.refresh_at and (key, _generation) not in _loading:
            # Nobody waits for it, so it runs in a context of its own: the caller's may be
            # gone before it reads (a sync view's ``async_to_sync``, whose thread executor
            # quits when the call returns).
            _start_load(key, load, negative, context=contextvars.Context())
        value: T | None = entry.value
        return value
    task = _loading.get((key, _generation))
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = _start_load(key, load, negative)
    result: T | None = await asyncio.shield(task)
    return result


def _start_load[T](
    key: str,
    load: Callable[[], Awaitable[T | None]],
    negative: bool,
    context: contextvars.Context | None = None,
) -> asyncio.Task[T | None]:
    generation = _generation
    under_way = (key, generation)
    # The value's life counts from here: it may be read at any moment of the load.
    started = time.monotonic()

    async def run() -> T | None:
        value = await load()
        _store(key, value, negative, generation, started)
        return value

    task = asyncio.get_running_loop().create_task(run(), context=context)
    _loading[under_way] = task
    task.add_done_callback(lambda done: _load_done(under_way, done))
    return task


def _load_done(under_way: tuple[str, int], task: asyncio.Task[Any]) -> None:
    if _loading.get(under_way) is task:
        del _loading[under_way]
    if not task.cancelled() and task.exception() is not None:
        # Retrieved here, so a refresh nobody waited for is not reported as lost. An entry
        # still in date keeps serving; the first call after it expires loads in front of
        # itself and gets the error.
        kind = under_way[0].partition(":")[0]
        logger.warning("loading %s failed", kind, exc_info=task.exception())


def _store(key: str, value: Any, negative: bool, generation: int, started: float) -> None:
    if generation != _generation:
        return
    if value is None and not negative:
        _local.pop(key, None)
        return
    if len(_local) >= _MAX_LOCAL_ENTRIES:
        _local.clear()
    ttl = settings.PROXY_ACCOUNT_CACHE_SECONDS if value is not None else _NEGATIVE_SECONDS
    _local[key] = _Entry(value, started + ttl * _REFRESH_AT, started + ttl)


_shared_cache: BaseCache | None = None


def _cache() -> BaseCache:
    """One cache object for the whole process.

    ``django.core.cache.cache`` is a new backend object in every asyncio task (Django keeps
    caches per context), and a new Redis backend object opens a new connection: each request
    that read the shared cache paid a connect (seen in bench/gateway's profiles). The Redis and
    database backends are safe to share between tasks and threads.
    """
    global _shared_cache
    if _shared_cache is None:
        _shared_cache = caches.create_connection("default")
    return _shared_cache


async def _shared(key: str, load: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Plain values from the shared cache, else from ``load`` (a database read in a thread)."""
    shared_key = _SHARED_PREFIX + key
    value: dict[str, Any] | None = await _cache().aget(shared_key)
    if value is None:
        value = await sync_to_async(load)()
        if value is not None:
            timeout = settings.PROXY_ACCOUNT_SHARED_CACHE_SECONDS
            await _cache().aset(shared_key, value, timeout=timeout)
    return value


async def account_by_pk(pk: int) -> AccountNode | None:
    async def load() -> AccountNode | None:
        return _node(await _shared(f"account:{pk}", lambda: _load_account(pk=pk)))

    return await _cached(f"account:{pk}", load)


async def account_by_public_id(public_id: str) -> AccountNode | None:
    if not public_id or len(public_id) > 64:
        return None

    async def load() -> AccountNode | None:
        values = await _shared(f"public:{public_id}", lambda: _load_account(public_id=public_id))
        return _node(values)

    return await _cached(f"public:{public_id}", load, negative=True)


async def account_by_email(within_path: str, email: str) -> AccountNode | None:
    """The account below ``within_path`` whose contact e-mail this is (the upstream's
    ``x-runas-child-user-email``, §3.5). E-mails are unique among siblings only, so the
    shallowest match wins, and two at the same depth match nobody."""
    if not email or len(email) > 254:
        return None
    key = f"email:{within_path}:{email.lower()}"

    async def load() -> AccountNode | None:
        return _node(await _shared(key, lambda: _load_by_email(within_path, email)))

    return await _cached(key, load, negative=True)


async def connection_for(partner_pk: int) -> UpstreamConnection:
    async def load() -> UpstreamConnection | None:
        values = await _shared(f"upstream:{partner_pk}", lambda: _load_upstream(partner_pk))
        if values is None:
            return None
        # Decrypted here, once per TTL per process, and kept in memory only.
        return UpstreamConnection(
            base_url=values["base_url"], secret=crypto.decrypt(values["secret_encrypted"])
        )

    connection = await _cached(f"upstream:{partner_pk}", load)
    if connection is None:
        raise ProxyError(502, "The partner's upstream connection is not configured", "BAD_GATEWAY")
    return connection


def forget_account(account: Account) -> None:
    """Drop what the caches hold about ``account`` (call after a status or upstream change).

    Other processes keep their in-memory copy for at most ``PROXY_ACCOUNT_CACHE_SECONDS``.
    A status or limits change also concerns the subtree (refused through its ancestor, limited
    by its ancestors' limits), so the descendants' entries go too.
    """
    subtree = list(
        Account.objects.filter(path__startswith=account.path).values_list("pk", "public_id")
    )
    keys = [f"upstream:{account.pk}"]
    for pk, public_id in subtree:
        keys += [f"account:{pk}", f"public:{public_id}"]
    _cache().delete_many([_SHARED_PREFIX + key for key in keys])
    _forget_loads()
    for key in keys:
        _local.pop(key, None)
    # E-mail keys are few and short-lived; they go wholesale.
    for key in list(_local):
        if key.startswith("email:"):
            _local.pop(key, None)


def clear_local_cache() -> None:
    """Forget this process's copies (tests, and a settings change)."""
    _forget_loads()
    _local.clear()


def _forget_loads() -> None:
    global _generation
    _generation += 1


# -- database reads (cold path only) -----------------------------------------------------------

_FIELDS = ("pk", "public_id", "path", "name", "status")


def _load_account(**lookup: Any) -> dict[str, Any] | None:
    row = Account.objects.filter(**lookup).values(*_FIELDS).first()
    return _with_lineage(row) if row else None


def _load_by_email(within_path: str, email: str) -> dict[str, Any] | None:
    rows = list(
        Account.objects.filter(path__startswith=within_path, email__iexact=email)
        .exclude(path=within_path)
        .exclude(status=Account.Status.CLOSED)
        .order_by(Length("path"), "pk")
        .values(*_FIELDS)[:2]
    )
    if not rows or (len(rows) == 2 and len(rows[0]["path"]) == len(rows[1]["path"])):
        return None
    return _with_lineage(rows[0])


def _with_lineage(row: dict[str, Any]) -> dict[str, Any]:
    """The row plus, read from it and every ancestor in one query, the reason calls as it are
    refused and the limits of each level."""
    lineage = [int(pk) for pk in row["path"].strip("/").split("/")]
    rows = {
        values["pk"]: values
        for values in Account.objects.filter(pk__in=lineage).values("status", *LEVEL_FIELDS)
    }
    found = {pk: (values["status"], values["name"]) for pk, values in rows.items()}
    refusal = None
    # The account's own status speaks first, then the nearest ancestor's.
    for pk in reversed(lineage):
        status, who = found.get(pk, (Account.Status.CLOSED, "an account above it"))
        if status != Account.Status.ACTIVE:
            label = Account.Status(status).label.lower()
            refusal = (
                f"The account {who} is {label}."
                if pk == row["pk"]
                else f"The account {row['name']} cannot be used: {who} above it is {label}."
            )
            break
    levels = [level_values(rows[pk]) for pk in lineage if pk in rows]
    return {**row, "partner_pk": lineage[0], "refusal": refusal, "levels": levels}


def _load_upstream(partner_pk: int) -> dict[str, Any] | None:
    row = (
        Account.objects.filter(pk=partner_pk, parent__isnull=True)
        .exclude(upstream_secret_encrypted="")
        .values("upstream_base_url", "upstream_secret_encrypted")
        .first()
    )
    if row is None or not row["upstream_base_url"]:
        return None
    return {
        "base_url": row["upstream_base_url"],
        "secret_encrypted": row["upstream_secret_encrypted"],
    }


def _node(values: dict[str, Any] | None) -> AccountNode | None:
    if values is None:
        return None
    return AccountNode(
        pk=values["pk"],
        public_id=values["public_id"],
        path=values["path"],
        name=values["name"],
        partner_pk=values["partner_pk"],
        refusal=values["refusal"],
        levels=tuple(Level.from_values(level) for level in values["levels"]),
    )
