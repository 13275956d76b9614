"""Which failures of a projection's write belong to one event (poison), and which to the world (an outage).

An outage (the database or NATS away, a lock, a schema not migrated yet) is retried from the checkpoint
until it passes. A poison event (a value the database cannot hold, a constraint it breaks, a fold that
raises on it) would fail the same way on every retry and stop the read model for good: the projector
finds it by committing the failed batch one event at a time and dead-letters the one that still fails.
Anything not known to be poison counts as an outage: retrying a good event costs time, dead-lettering it
would lose it.
"""

import msgspec
from sqlalchemy import exc as sa

# Errors of the data, not of the connection: each names the value or constraint at fault.
_POISON: tuple[type[BaseException], ...] = (
    sa.DataError,  # a value the column cannot hold (too long, out of range, a NUL byte in PostgreSQL)
    sa.IntegrityError,  # a unique or not-null constraint the event breaks
    ArithmeticError,  # OverflowError: an integer SQLite cannot bind
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    msgspec.MsgspecError,
)


def is_poison(error: BaseException) -> bool:
    """True when the failure is the event's own: the same event fails again however often it is retried."""
    if isinstance(error, sa.StatementError) and not isinstance(error, sa.DBAPIError):
        # SQLAlchemy wraps an error raised while binding parameters (sqlite3's OverflowError) like this.
        return error.orig is None or is_poison(error.orig)
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return False
    return isinstance(error, _POISON)


def describe(error: BaseException) -> str:
    """The dead letter's reason: the error's type and its first line (no SQL text, no parameters)."""
    inner = error.orig if isinstance(error, sa.StatementError) and error.orig is not None else error
    wrapped = isinstance(error, sa.DBAPIError)  # named as SQLAlchemy names it, the same for every driver
    kind = type(error if wrapped else inner).__name__
    text = str(inner).strip()
    return f"cannot apply: {kind}: {text.splitlines()[0] if text else ''}"[:2000]
