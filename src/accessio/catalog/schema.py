"""The catalog's tables (SQLAlchemy Core). Migrations in ``migrations/`` build them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that comes back timezone-aware (UTC) from every backend; SQLite
    drops the zone on the way in."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class _ClientJson(sa.TypeDecorator[Any]):
    """Client metadata: JSON documents; jsonb in PostgreSQL so that filters can use its
    indexes. The PostgreSQL type is loaded when a PostgreSQL catalog is used: importing
    SQLAlchemy's PostgreSQL dialect costs a tenth of a listing's start on SQLite."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB  # noqa: PLC0415 - see the docstring

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


ClientJson = _ClientJson()


def _partial(name: str, *columns: str, where: str, unique: bool = False) -> sa.Index:
    """A partial index: the migrations build it ``WHERE where`` in SQLite and PostgreSQL
    alike. Declared here with SQLite's keyword only: PostgreSQL's makes SQLAlchemy import
    its whole PostgreSQL dialect when this module loads (see ``_ClientJson``), and tables
    are built by the migrations, never from these declarations."""
    return sa.Index(name, *columns, unique=unique, sqlite_where=sa.text(where))


metadata = sa.MetaData()

integrations = sa.Table(
    "integrations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("access_mode", sa.String(32), nullable=False),
    sa.Column("root", sa.Text),
    sa.Column("endpoint", sa.Text),
    sa.Column("region", sa.String(64)),
    sa.Column("credentials_ref", sa.Text),  # a reference (env:, profile:, file:), never a secret
    sa.Column("allow_private_network", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("sign_ttl_s", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # The integration the SDK's upload helpers put files into (at most one).
    sa.Column("upload_target", sa.Boolean, nullable=False, server_default=sa.false()),
    # Where Accessio may write (image sequences' videos): a prefix URL inside the
    # integration; NULL: the integration is read-only.
    sa.Column("write_prefix", sa.Text),
)

folders = sa.Table(
    "folders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("parent_id", sa.String(36), sa.ForeignKey("folders.id")),
    sa.Column("path", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("client_metadata", ClientJson),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("owner_id", sa.String(36)),  # the user who made it (NULL: the operator)
    # A cloud-synced folder follows a prefix of an integration (``accessio.jobs.sync``).
    sa.Column("sync_integration_id", sa.String(36)),
    sa.Column("sync_prefix", sa.Text),  # the prefix URL
    sa.Column("synced_at", UtcDateTime()),  # when its last sync ended DONE
    sa.Index("ix_folders_owner", "owner_id"),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id"), nullable=False),
    sa.Column("parent_item_id", sa.String(36)),
    sa.Column("position", sa.Integer),
    sa.Column("item_type", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    # URLs reach 16 KiB: the dedup index holds 8 bytes of their SHA-256 (see items.url_key)
    sa.Column("url_key", sa.BigInteger),
    sa.Column("integration_id", sa.String(36)),
    sa.Column("file_size", sa.BigInteger),
    sa.Column("mime_type", sa.String(255)),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("duration", sa.Float),
    sa.Column("fps", sa.Float),
    sa.Column("frame_count", sa.Integer),
    sa.Column("num_pages", sa.Integer),
    sa.Column("sample_rate", sa.Integer),
    sa.Column("bit_depth", sa.Integer),
    sa.Column("codec", sa.String(64)),
    sa.Column("num_channels", sa.Integer),
    sa.Column("dicom_study_uid", sa.String(128)),
    sa.Column("dicom_series_uid", sa.String(128)),
    sa.Column("dicom_instance_uid", sa.String(128)),
    sa.Column("etag", sa.String(255)),
    sa.Column("encoding", sa.String(64)),  # text files
    sa.Column("modality", sa.String(16)),  # DICOM
    sa.Column("rotation", sa.Integer),  # video: degrees clockwise players turn the picture
    # What a kind has beyond the columns, under item JSON names: ``dicomTags`` (the
    # Encord tag set, DICOM JSON model) for DICOM files, ``shape`` and ``voxelSize`` for NIfTI.
    sa.Column("media_extra", sa.JSON),
    sa.Column("client_metadata", ClientJson),
    sa.Column("description", sa.Text),  # set through the API (Encord's item description)
    sa.Column("is_tombstone", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("job_id", sa.String(36)),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Partial indexes: only top-level items are looked up as duplicates, only children by
    # parent. The dedup index holds the URL key alone (the folder is checked on the row,
    # which the lookup reads anyway): half the size of one led by the folder's id, and
    # every insert writes into it at a random place.
    _partial("ix_items_url_key", "url_key", where="parent_item_id IS NULL"),
    _partial("ix_items_parent", "parent_item_id", "position", where="parent_item_id IS NOT NULL"),
)

metadata_schema = sa.Table(
    "metadata_schema",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    # The key's type in the export form, e.g. {"ty": "variant", "hint": "number"}
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id"), nullable=False),
    sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("file_name", sa.Text),
    sa.Column("ignore_errors", sa.Boolean, nullable=False),
    sa.Column("skip_duplicate_urls", sa.Boolean, nullable=False),
    sa.Column("upsert_metadata", sa.Boolean, nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("units_total", sa.Integer, nullable=False),
    sa.Column("units", sa.LargeBinary, nullable=False),  # the job's units, compressed: it resumes without its spec
    # Units are worked in order, a chunk per transaction: those before ``next_unit`` are
    # finished, and the counters moved with it in the same transaction.
    sa.Column("next_unit", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("upserted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("started_at", UtcDateTime()),
    sa.Column("finished_at", UtcDateTime()),
    sa.Column("owner_id", sa.String(36)),  # the user who submitted it (NULL: the operator)
    # The process working a job (``host/pid/token``) leases it and its heartbeat keeps
    # ``lease_expires_at`` ahead: a PENDING job whose lease ran out was interrupted.
    sa.Column("lease_holder", sa.String(200)),
    sa.Column("lease_expires_at", UtcDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # times a process took the job
    sa.Column("sequence_fps", sa.Float),  # image sequences' frame rate (NULL: the default)
    # "register" (a spec's units) or "sync" (a synced folder's sync: its plan in ``units``)
    sa.Column("kind", sa.String(16), nullable=False, server_default="register"),
    sa.Column("sync_counts", sa.JSON(none_as_null=True)),  # a sync's counters: listed, unchanged, add, addDone, ...
    # one sync of a folder at a time: a second start finds the first
    _partial("ux_jobs_active_sync", "folder_id", where="kind = 'sync' AND status = 'PENDING'", unique=True),
)

# What the syncs of a synced folder saw of each object under its prefix: its version
# (size and ETag, or size and modification time for local files), its sidecar's version,
# and what it became: an item (``state`` "item"; "gone" once deleted: the item is a
# tombstone) or nothing ("skipped": not media). A sync compares a listing with these
# rows only, so its cost grows with the prefix, not with the catalog.
synced_objects = sa.Table(
    "synced_objects",
    metadata,
    sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("url_key", sa.BigInteger, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("sidecar", sa.Text),
    sa.Column("item_id", sa.String(36)),
    sa.Column("state", sa.String(16), nullable=False),
    sqlite_with_rowid=False,  # a folder's rows in one range of the key (migration 0013)
)

# Webhooks: a folder's (its jobs and those of every folder below it) or the server's
# (``folder_id`` NULL: every job). ``secret`` signs the deliveries: it is kept because
# signing needs it, and shown only once, when the webhook is made (never listed or logged).
webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE")),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),
    sa.Column("events", sa.JSON, nullable=False),  # a list of event names: job.finished, sync.finished
    sa.Column("allow_private_network", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("owner_id", sa.String(36)),  # the user who made it (NULL: the operator)
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_webhooks_folder", "folder_id"),
)

# The outbox: a row per (event, webhook), written in the transaction that ended the job.
# ``status`` pending, delivered or failed (attempts exhausted). A process sending a
# delivery claims it first (``claimed_by`` until ``claim_expires_at``), so two never send
# one at once; a claim whose process died runs out and the delivery is sent again
# (receivers dedupe on the delivery id).
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("webhook_id", sa.String(36), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("job_id", sa.String(36)),  # the job the event is about (no key: a deleted folder's jobs go)
    sa.Column("payload", sa.Text, nullable=False),  # the exact JSON body sent (the signature covers its bytes)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_by", sa.String(200)),
    sa.Column("claim_expires_at", UtcDateTime()),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("last_attempt_at", UtcDateTime()),
    sa.Column("delivered_at", UtcDateTime()),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
    sa.Index("ix_webhook_deliveries_job", "job_id"),
)

unit_errors = sa.Table(
    "unit_errors",
    metadata,
    # Only the units that failed have a row: every other unit before the job's
    # ``next_unit`` is done, and the job's counters say how (created, skipped, upserted).
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("unit_index", sa.Integer, primary_key=True),  # the unit's position in the job's stored units
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("password_hash", sa.Text),  # argon2id, for the web app's sign-in
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# API tokens: only their SHA-256 is kept (they are 256-bit random, so a fast hash is safe).
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("last_used_at", UtcDateTime()),
    sa.Column("revoked_at", UtcDateTime()),
    sa.Index("ix_api_tokens_user", "user_id"),
)

# A folder shared with a user; the role holds in every folder below it too.
folder_grants = sa.Table(
    "folder_grants",
    metadata,
    sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer, editor or admin
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index("ix_folder_grants_user", "user_id"),
)

integration_grants = sa.Table(
    "integration_grants",
    metadata,
    sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

# Signed upload URLs handed out (E21): the placeholder item id, where the bytes go, for whom.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("folder_id", sa.String(36), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("integration_id", sa.String(36), sa.ForeignKey("integrations.id"), nullable=False),
    sa.Column("item_type", sa.String(32), nullable=False),
    sa.Column("object_url", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)

# Browsers signed in to the web app: only the SHA-256 of the session cookie is kept.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Index("ix_web_sessions_user", "user_id"),
)

# Settings every server process of the catalog shares (the URL-signing secret).
server_settings = sa.Table(
    "server_settings",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


class PgVector(sa.types.UserDefinedType[Any]):
    """pgvector's ``vector`` without a fixed size (each embedding key has its own)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


# One vector per (item, key, frame); ``frame`` NULL is the item's own embedding. SQLite
# holds float32 bytes (little-endian). Rows are never updated, only deleted and
# inserted: an ANN index labels vectors by ``id``, which is never reused.
embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(36), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("frame", sa.Integer),
    sa.Column("vector", sa.LargeBinary().with_variant(PgVector(), "postgresql"), nullable=False),
    sa.Index("ux_embeddings_item_frame", "item_id", "key", "frame", unique=True),
    _partial("ux_embeddings_item", "item_id", "key", where="frame IS NULL", unique=True),
    sa.Index("ix_embeddings_key", "key", "id"),
    sqlite_autoincrement=True,
)

# SQLite only (a trigger fills it): vectors deleted, for ANN indexes to catch up with.
embedding_deletions = sa.Table(
    "embedding_deletions",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("embedding_id", sa.BigInteger, nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Index("ix_embedding_deletions_key", "key", "seq"),
    sqlite_autoincrement=True,
)

# SQLite only: the ANN index file of each embedding key saved beside the catalog
# (``token`` names it) and how far it has caught up; deletions up to ``pruned_upto``
# may be gone from the log, so an index behind that reloads.
vector_indexes = sa.Table(
    "vector_indexes",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("ndim", sa.Integer, nullable=False),
    sa.Column("token", sa.String(32)),
    sa.Column("added_upto", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("deleted_upto", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("pruned_upto", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# Jobs worked by Celery workers (``accessio worker``, PostgreSQL only): a job's units
# are planned into chunks when it is enqueued, a row each (a unit is never split). A
# chunk is ``planned`` (not sent yet: jobs keep a few chunks in the broker at a time,
# for fairness), ``sent`` (a message is in the broker), ``running`` (a worker process
# claimed it: ``holder``, renewed until ``lease_expires_at``), then ``done`` (written
# in the transaction that wrote its items, with its counters) or ``cancelled``.
job_chunks = sa.Table(
    "job_chunks",
    metadata,
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("chunk_index", sa.Integer, primary_key=True),
    sa.Column("first_unit", sa.Integer, nullable=False),
    sa.Column("end_unit", sa.Integer, nullable=False),  # exclusive
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("holder", sa.String(200)),  # the worker process (host/pid/token) that claimed it
    sa.Column("lease_expires_at", UtcDateTime()),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # claims of the chunk
    sa.Column("sent_at", UtcDateTime()),
    sa.Column("finished_at", UtcDateTime()),
    sa.Index("ix_job_chunks_status", "status", "job_id"),
)

# The worker processes of ``accessio worker``: each beats every few seconds.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("holder", sa.String(200), primary_key=True),  # host/pid/token, as in job_chunks.holder
    sa.Column("node", sa.String(200), nullable=False),  # the Celery worker's name (name@host)
    sa.Column("queues", sa.Text, nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("beat_at", UtcDateTime(), nullable=False),
    sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
)
