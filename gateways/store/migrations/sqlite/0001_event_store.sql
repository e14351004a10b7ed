-- The event log. AUTOINCREMENT: a position is never reused, even after the newest row is gone.
-- SQLite has one writer at a time, so positions are assigned in commit order.
CREATE TABLE events (
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        INTEGER NOT NULL CHECK (sequence > 0),
    event_type      TEXT    NOT NULL,
    event_version   TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    event_id        TEXT    NOT NULL UNIQUE,
    correlation_id  TEXT    NOT NULL,
    causation_id    TEXT    NOT NULL,
    traceparent     TEXT,
    actor           TEXT,
    recorded_at     TEXT    NOT NULL,
    CONSTRAINT events_aggregate_sequence UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE snapshots (
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    taken_at       TEXT    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE idempotency_keys (
    key             TEXT    PRIMARY KEY,
    fingerprint     TEXT    NOT NULL,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    global_position INTEGER,
    event_types     TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
);
