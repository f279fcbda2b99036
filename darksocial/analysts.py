"""What analysts add to the darksocial database: names and notes for people, and one-time sign-in links.

Attribution never reads or rewrites these tables, so a label survives every rerun (incremental or full). Both are
private: the reporting server never shows them anonymously (``sign_in_links`` to nobody at all).

A *sign-in link* lets the person at the server's machine in without a password: ``darksocial login-link DB`` writes
the SHA-256 of a random token with an expiry, the server trades a matching token (once) for an analyst session.
Only someone who can write the database file can mint one, and they could read every table anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3

from . import urls

LABELS_TABLE = "person_labels"
SIGN_IN_TABLE = "sign_in_links"
TABLES = (LABELS_TABLE, SIGN_IN_TABLE)
MAX_NAME = 200
MAX_NOTE = 4000
SIGN_IN_LIFETIME = dt.timedelta(hours=24)
SIGN_IN_PATH = "/-/darksocial/sign-in"  # the reporting server's route that redeems a token

SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS [{LABELS_TABLE}] (person TEXT PRIMARY KEY, name TEXT, note TEXT, "
    "updated TEXT, updated_by TEXT)",
    f"CREATE TABLE IF NOT EXISTS [{SIGN_IN_TABLE}] (token_sha256 TEXT PRIMARY KEY, expires TEXT NOT NULL)",
)
DESCRIPTIONS = {
    LABELS_TABLE: {
        "description": "Private: names and notes analysts gave people on their influencer page (attribution never "
        "touches this table, so they survive reruns).",
        "columns": {"person": "The person labelled (v:<visitor>, x:<external id> or a:<ambassador name>)",
                    "name": "Name the analyst gave them (shown instead of any other name)",
                    "note": "The analyst's note", "updated": "When the label was last saved (UTC)",
                    "updated_by": "Analyst who saved it"},
    },
    SIGN_IN_TABLE: {
        "description": "Private: hashes of one-time sign-in links minted by `darksocial login-link`.",
        "columns": {"token_sha256": "SHA-256 of the link's token", "expires": "When the link stops working (UTC)"},
    },
}

# A person's display name in SQL: the analyst's label first, then the attributed name. Use as
# ``DISPLAY_NAME.format(person="s.sharer", name="s.sharer_name")``.
DISPLAY_NAME = (
    f"coalesce((select nullif(l.name, '') from [{LABELS_TABLE}] l where l.person = {{person}}), {{name}})"
)


def ensure(conn: sqlite3.Connection) -> None:
    with conn:
        for statement in SCHEMA:
            conn.execute(statement)


def clean_text(value: str, limit: int) -> str:
    """Strip control characters (keeping newlines in notes) and surrounding space, cut to ``limit``."""
    kept = "".join(ch for ch in value if ch in "\n\t" or (ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF))
    return kept.strip()[:limit]


def save_label(conn: sqlite3.Connection, person: str, name: str, note: str, by: str,
               now: dt.datetime | None = None) -> None:
    """Name a person and keep a note; blank name and note remove the label."""
    ensure(conn)
    name, note = clean_text(name, MAX_NAME).replace("\n", " "), clean_text(note, MAX_NOTE)
    if not name and not note:
        conn.execute(f"DELETE FROM [{LABELS_TABLE}] WHERE person = ?", (person,))
        return
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn.execute(
        f"INSERT INTO [{LABELS_TABLE}] (person, name, note, updated, updated_by) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(person) DO UPDATE SET name = excluded.name, note = excluded.note, "
        "updated = excluded.updated, updated_by = excluded.updated_by",
        (person, name or None, note or None, stamp, by),
    )


def label(conn: sqlite3.Connection, person: str) -> dict | None:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (LABELS_TABLE,)).fetchone():
        return None
    row = conn.execute(f"SELECT name, note, updated, updated_by FROM [{LABELS_TABLE}] WHERE person = ?",
                       (person,)).fetchone()
    return dict(zip(("name", "note", "updated", "updated_by"), row, strict=True)) if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def mint_sign_in_token(conn: sqlite3.Connection, now: dt.datetime | None = None) -> str:
    """A fresh one-time sign-in token (its hash is stored; expired ones are dropped)."""
    ensure(conn)
    now = now or dt.datetime.now(dt.timezone.utc)
    token = secrets.token_urlsafe(24)
    conn.execute(f"DELETE FROM [{SIGN_IN_TABLE}] WHERE expires < ?", (now.isoformat(),))
    conn.execute(f"INSERT INTO [{SIGN_IN_TABLE}] (token_sha256, expires) VALUES (?, ?)",
                 (_digest(token), (now + SIGN_IN_LIFETIME).isoformat()))
    return token


def redeem_sign_in_token(conn: sqlite3.Connection, token: str, now: dt.datetime | None = None) -> bool:
    """True (once) when ``token`` is a live sign-in token; it is deleted either way."""
    if not token or len(token) > 100:
        return False
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (SIGN_IN_TABLE,)).fetchone():
        return False
    now = now or dt.datetime.now(dt.timezone.utc)
    row = conn.execute(f"DELETE FROM [{SIGN_IN_TABLE}] WHERE token_sha256 = ? RETURNING expires",
                       (_digest(token),)).fetchone()
    return bool(row) and row[0] >= now.isoformat()


def login_link(db_path, host: str = "127.0.0.1", port: int = 8001) -> str:
    """A fresh one-time sign-in link for the reporting server on ``host:port`` serving ``db_path``."""
    from . import store

    db = store.open_db(db_path)  # refuses another application's database, as every command does
    try:
        token = mint_sign_in_token(db.conn)
        db.conn.commit()
    finally:
        db.close()
    return f"http://{urls.url_host(host)}:{port}{SIGN_IN_PATH}?token={token}"
