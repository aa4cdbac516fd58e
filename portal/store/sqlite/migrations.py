"""Versioned schema migrations for the SQLite store, applied in order at start.

Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, their live event log, link keys, webhook dedup, rejected webhooks, outbox.
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        link_key TEXT NOT NULL UNIQUE,
        doc TEXT NOT NULL,
        status TEXT NOT NULL,
        closed_at TEXT,
        reference TEXT,
        phone TEXT,
        email TEXT,
        name TEXT,
        last_seq INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX jobs_reference ON jobs (reference);
    CREATE INDEX jobs_phone ON jobs (phone, updated_at);
    CREATE INDEX jobs_email ON jobs (email);
    CREATE INDEX jobs_name ON jobs (name);
    CREATE TABLE link_keys (
        key TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX link_keys_job ON link_keys (job_id);
    CREATE TABLE job_events (
        job_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE webhook_ids (
        id TEXT PRIMARY KEY,
        received_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX webhook_ids_age ON webhook_ids (received_at);
    CREATE TABLE rejected_webhooks (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        status_code INTEGER NOT NULL,
        reason TEXT NOT NULL,
        webhook_id TEXT,
        detail TEXT,
        excerpt TEXT
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        job_id TEXT,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        lease_until TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
    """,
    # 2: the message history (every SMS and email, out and in).
    """
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        job_id TEXT,
        channel TEXT NOT NULL,
        direction TEXT NOT NULL,
        to_addr TEXT,
        from_addr TEXT,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        provider_id TEXT,
        error TEXT,
        meta TEXT NOT NULL DEFAULT '{}',
        outbox_id INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX messages_job ON messages (job_id, id);
    CREATE UNIQUE INDEX messages_provider ON messages (provider_id) WHERE provider_id IS NOT NULL;
    """,
    # 3: notifications: SMS opt-outs, one history row per outbox row, the worker's claim index.
    """
    CREATE TABLE opt_outs (
        address TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX messages_outbox ON messages (outbox_id) WHERE outbox_id IS NOT NULL;
    CREATE INDEX outbox_kind_due ON outbox (state, kind, next_attempt_at);
    CREATE INDEX outbox_job ON outbox (job_id)
    """,
    # 4: the staff console: accounts, their sessions (by hash of the id) and the audit log.
    """
    CREATE TABLE staff_accounts (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        timezone TEXT NOT NULL DEFAULT 'UTC',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE staff_sessions (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    ) WITHOUT ROWID;
    CREATE INDEX staff_sessions_user ON staff_sessions (username);
    CREATE INDEX staff_sessions_age ON staff_sessions (created_at);
    CREATE TABLE staff_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        username TEXT NOT NULL,
        action TEXT NOT NULL,
        job_id TEXT,
        client TEXT,
        detail TEXT
    );
    CREATE INDEX staff_audit_job ON staff_audit (job_id, id);
    CREATE INDEX staff_audit_user ON staff_audit (username, id);
    CREATE INDEX IF NOT EXISTS staff_outbox_job ON outbox (job_id, id)
    """,
    # 5: two-way SMS: what we last asked each phone number (core/replies.py conversation state).
    """
    CREATE TABLE conversations (
        phone TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX conversations_age ON conversations (updated_at)
    """,
    # 6: the retention purge finds closed jobs by when they closed, without scanning every job.
    """
    CREATE INDEX jobs_closed ON jobs (closed_at) WHERE closed_at IS NOT NULL
    """,
    # 7: the staff's attention queue and the statistics counters, kept as changes are written.
    """
    CREATE TABLE attention (
        job_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (job_id, reason)
    ) WITHOUT ROWID;
    CREATE INDEX attention_since ON attention (since);
    CREATE TABLE tallies (
        bucket INTEGER NOT NULL,
        name TEXT NOT NULL,
        amount REAL NOT NULL,
        PRIMARY KEY (bucket, name)
    ) WITHOUT ROWID
    """,
)


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date in one transaction; return the resulting version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        if version > len(MIGRATIONS):
            raise RuntimeError(f"the database schema (v{version}) is newer than this portal (v{len(MIGRATIONS)})")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)
