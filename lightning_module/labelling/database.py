"""Where ratings live: SQLite in the data folder by default, PostgreSQL when ``TREERISK_DB`` names one.

Ratings are the one thing in TreeRisk that people type in by hand, hundreds at a time, so they live in a real
database rather than in files: every write is a transaction, a killed dashboard loses at most the rating being
typed, and raters working at the same moment never lose or mix each other's ratings. The rule that makes the last
point hold is in the schema, not in the code: one row per (photo, rater) (a unique constraint), written with an
upsert, so a rater who rates a photo again replaces their own rating and no one else's.

* **SQLite** (the default): ``<data dir>/labels.sqlite``, embedded, nothing to start or administer. It runs in
  WAL mode with a 30 s busy timeout, and every transaction begins with ``BEGIN IMMEDIATE``, so concurrent writers
  queue instead of failing with "database is locked".
* **PostgreSQL**: ``TREERISK_DB=postgresql://user:password@host:5432/treerisk`` (driver: psycopg 3), for a team
  that rates from several machines or wants the ratings in the lab's server.

The schema is versioned: ``schema_version`` records every version applied. Opening a database creates the tables
when it is empty, upgrades an older version in place (:data:`MIGRATIONS`), and refuses one written by a newer
TreeRisk instead of guessing. Schema changes take a lock (a transaction on SQLite, an advisory lock on PostgreSQL),
so two dashboards opening a fresh database at once create it once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean, CheckConstraint, Connection, DateTime, Engine, ForeignKey, Integer, String, Text, UniqueConstraint,
    create_engine, event, inspect, select, text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from lightning_module.data.categories import ISA_CATEGORIES

DB_ENV = "TREERISK_DB"
DB_FILE = "labels.sqlite"
SCHEMA_VERSION = 1
# How long a writer waits for another one before giving up (SQLite); a rating is one short transaction.
BUSY_TIMEOUT_S = 30
# Any fixed number: the key of the PostgreSQL advisory lock held while the schema is created or upgraded.
_SCHEMA_LOCK_KEY = 0x7E4EE15
# What a rater says when the photo does not show enough to rate: a rating, but no class.
CANNOT_TELL = "cannot tell"
# The labels a rating may hold: the ISA classes, least to most likely to fail, and "cannot tell". The database
# checks them itself, so that no writer, ours or anyone's, can store a label the statistics cannot read.
LABELS: tuple[str, ...] = (*ISA_CATEGORIES, CANNOT_TELL)


class LabelDatabaseError(RuntimeError):
    """The ratings database cannot be opened or used; the message says what to fix."""


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    """Every schema version applied to this database, with when; the highest is the current one."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PhotoSetRow(Base):
    """A folder or manifest of photos to rate. ``source`` (its resolved path) identifies it."""

    __tablename__ = "photo_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(1024), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    root: Mapped[str] = mapped_column(String(1024))  # the folder photo paths are relative to
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class PhotoRow(Base):
    """One photo of a set; ``path`` is relative to the set's root (POSIX), or absolute when outside it."""

    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("set_id", "path", name="one_row_per_photo"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("photo_sets.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    photo_group: Mapped[str] = mapped_column(String(300), default="")


class RaterRow(Base):
    """A rater by name (no passwords: see docs/SERVING.md); ``simulated`` marks the demo's simulated raters."""

    __tablename__ = "raters"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class RatingRow(Base):
    """One rater's rating of one photo: at most one per (photo, rater); rating again replaces it."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("photo_id", "rater_id", name="one_rating_per_photo_and_rater"),
        CheckConstraint("label IN (" + ", ".join(f"'{label}'" for label in LABELS) + ")", name="known_label"),
        CheckConstraint("confidence IS NULL OR confidence BETWEEN 1 AND 3", name="confidence_1_to_3"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    defects: Mapped[str] = mapped_column(String(400), default="")  # comma-separated defect keys
    rated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


# version → the function that upgrades a database from that version to the next (none yet: version 1 is the first).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def database_url(data_dir: Path | str) -> str:
    """``$TREERISK_DB`` when set, else the SQLite file ``labels.sqlite`` in ``data_dir``."""
    configured = os.environ.get(DB_ENV, "").strip()
    if configured:
        return configured
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / DB_FILE}"


def _driver_url(url: str) -> str:
    """``postgresql://`` (and ``postgres://``) mean psycopg 3, the driver TreeRisk ships, not SQLAlchemy's default."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def describe_url(url: str) -> str:
    """The URL fit to show: any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "an unreadable database URL"


class LabelDatabase:
    """An open ratings database: ``with db.transaction() as session:`` is one transaction, committed on exit."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def describe(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back if it raises."""
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as error:
            raise LabelDatabaseError(f"The ratings database {self.describe()} failed: {_first_line(error)}") from None

    def schema_version(self) -> int | None:
        with self.engine.connect() as connection:
            return _stored_version(connection)

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> LabelDatabase:
    """Open (and create or upgrade, if need be) the ratings database at ``url``. Raises :class:`LabelDatabaseError`."""
    shown = describe_url(url)
    try:
        engine = _engine(_driver_url(url))
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise LabelDatabaseError(
            f"{DB_ENV}={shown} is not a database URL TreeRisk can use ({_first_line(error)}); "
            "give postgresql://user:password@host:port/database, or unset it to use SQLite in the data folder."
        ) from None
    try:
        _create_or_upgrade(engine)
    except OperationalError as error:
        engine.dispose()
        raise LabelDatabaseError(f"Cannot open the ratings database {shown}: {_first_line(error)}") from None
    except LabelDatabaseError:
        engine.dispose()
        raise
    return LabelDatabase(engine, url)


def _first_line(error: BaseException) -> str:
    message = str(getattr(error, "orig", None) or error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    # SQLAlchemy's documented recipe: let the driver leave transactions alone and begin them ourselves, so that
    # every transaction takes the write lock up front and concurrent writers wait their turn (busy timeout).
    @event.listens_for(engine, "connect")
    def _on_connect(connection, _record) -> None:  # noqa: ANN001 - DB-API objects
        connection.isolation_level = None
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _stored_version(connection: Connection) -> int | None:
    if not inspect(connection).has_table(SchemaVersion.__tablename__):
        return None
    return connection.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc())).scalar()


def _create_or_upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        version = _stored_version(connection)
        if version is None:
            ours = {table.name for table in Base.metadata.sorted_tables} - {SchemaVersion.__tablename__}
            present = ours & set(inspect(connection).get_table_names())
            if present:
                raise LabelDatabaseError(
                    f"The ratings database has tables ({', '.join(sorted(present))}) but no schema_version: it was "
                    "not made by TreeRisk. Point TREERISK_DB at an empty database."
                )
            Base.metadata.create_all(connection)
            connection.execute(SchemaVersion.__table__.insert().values(version=SCHEMA_VERSION, applied_at=now()))
        elif version > SCHEMA_VERSION:
            raise LabelDatabaseError(
                f"The ratings database is at schema version {version}, made by a newer TreeRisk than this one "
                f"(which knows up to version {SCHEMA_VERSION}). Update TreeRisk; nothing was changed."
            )
        else:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](connection)
                connection.execute(SchemaVersion.__table__.insert().values(version=step + 1, applied_at=now()))
