"""What every Redis client of the portal is made with (the limiter, the token store).

redis-py looks its own version up with ``importlib.metadata`` for every connection it opens
(``DriverInfo``, for ``CLIENT SETINFO``): 1 to 10 ms of the event loop's time per connection,
50 ms and more on a busy machine, seen in bench/gateway's profiles whenever the proxy's pools
grew. The version is read once per process here instead.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.driver_info import DriverInfo


@functools.cache
def driver_info() -> DriverInfo:
    import redis
    from redis.driver_info import DriverInfo

    return DriverInfo(name="redis-py", lib_version=redis.__version__)


def client_options(timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``Redis.from_url`` and ``ConnectionPool.from_url``."""
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "driver_info": driver_info(),
    }
