-- The event log. global_position = (id of the writing transaction) * 65536 + ordinal within it.
-- Readers only return positions of transactions older than the oldest one still running
-- (pg_snapshot_xmin), so a reader never passes an event whose transaction commits later.
CREATE TABLE events (
    global_position BIGINT      PRIMARY KEY,
    aggregate_type  TEXT        NOT NULL,
    aggregate_id    TEXT        NOT NULL,
    sequence        BIGINT      NOT NULL CHECK (sequence > 0),
    event_type      TEXT        NOT NULL,
    event_version   TEXT        NOT NULL,
    payload         JSONB       NOT NULL,
    event_id        UUID        NOT NULL UNIQUE,
    correlation_id  TEXT        NOT NULL,
    causation_id    TEXT        NOT NULL,
    traceparent     TEXT,
    actor           TEXT,
    recorded_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_aggregate_sequence UNIQUE (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE snapshots (
    aggregate_type TEXT        NOT NULL,
    aggregate_id   TEXT        NOT NULL,
    version        BIGINT      NOT NULL,
    payload        JSONB       NOT NULL,
    taken_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE idempotency_keys (
    key             TEXT        PRIMARY KEY,
    fingerprint     TEXT        NOT NULL,
    aggregate_type  TEXT        NOT NULL,
    aggregate_id    TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    global_position BIGINT,
    event_types     JSONB       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
