from sqlalchemy import BigInteger, DateTime, MetaData, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Versioned:
    """Rows carry the stream sequence of the last event applied, so a replay never applies twice."""

    last_event_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


def table(model: type[Base]) -> Table:
    """A model's table, typed as one (SQLAlchemy types `__table__` as any FROM clause)."""
    found = model.__table__
    assert isinstance(found, Table)
    return found


__all__ = ["Base", "Timestamp", "Versioned", "table"]
