-- The payment policy's durable timers (an authorization's deadline, the automatic purchase
-- confirmation). A timer is set in the same transaction as the policy step that set it and
-- closed in the same transaction as the command it fired, so a restart neither loses one nor
-- fires one twice. `due_at_ms` is Unix milliseconds, compared as numbers by both databases.
-- Closed timers are kept with their outcome (fired, moot, cancelled).
CREATE TABLE policy_timers (
    timer_id        TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    due_at_ms       BIGINT  NOT NULL,
    cause_event_id  TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    traceparent     TEXT,
    closed_at       TEXT,
    outcome         TEXT
);
CREATE INDEX policy_timers_pending ON policy_timers (due_at_ms) WHERE closed_at IS NULL;
