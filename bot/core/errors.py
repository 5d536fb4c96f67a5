"""What the store's failures look like to everyone else: the one vocabulary for "the
incident store did not answer" (handlers catch these without knowing Redis is behind
the store, bot/core/store/ raises them)."""

from __future__ import annotations

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    ConnectionError,
    NoPermissionError,
    RedisError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError


class StoreUnavailable(Exception):
    """Redis did not answer; every user-facing path turns this into a plain message.

    `reason` says what is wrong in words fit for anyone (/readyz), without the address
    that the message may name."""

    def __init__(self, message: str, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason

    @classmethod
    def of(cls, exc: BaseException) -> StoreUnavailable:
        if isinstance(exc, AuthenticationError | AuthorizationError | NoPermissionError):
            reason = "authentication failed"
        elif isinstance(exc, TimeoutError | RedisTimeoutError):
            reason = "timeout"
        elif isinstance(exc, BusyLoadingError):
            reason = "loading its data"
        elif isinstance(exc, ConnectionError | OSError):
            reason = "unreachable"
        else:
            reason = "error"
        return cls(str(exc), reason)


# Everything that means "the store did not answer", for callers outside this module
# (handlers catch these without knowing Redis is behind the store).
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreUnavailable, RedisError, OSError)


class IncidentNotFound(Exception):
    pass
