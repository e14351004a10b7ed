-- Partner feed runs: what each run read and did, and why each rejected line was rejected.
CREATE TABLE feed_runs (
    run_id         TEXT    PRIMARY KEY,
    partner_id     TEXT    NOT NULL,
    format         TEXT    NOT NULL,
    encoding       TEXT    NOT NULL,
    -- The field mapping's version, for CSV and JSON Lines.
    mapping_version BIGINT,
    kind           TEXT,
    status         TEXT    NOT NULL,
    error          TEXT,
    started_at_ms  BIGINT  NOT NULL,
    finished_at_ms BIGINT,
    rows_read      BIGINT  NOT NULL DEFAULT 0,
    registered     BIGINT  NOT NULL DEFAULT 0,
    updated        BIGINT  NOT NULL DEFAULT 0,
    unchanged      BIGINT  NOT NULL DEFAULT 0,
    delisted       BIGINT  NOT NULL DEFAULT 0,
    rejected       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX feed_runs_partner ON feed_runs (partner_id, started_at_ms);

CREATE TABLE feed_rejections (
    run_id TEXT    NOT NULL,
    line   BIGINT  NOT NULL,
    reason TEXT    NOT NULL,
    raw    BYTEA   NOT NULL,
    PRIMARY KEY (run_id, line)
);

-- What the last feed said of each of a partner's products, so an unchanged row costs a
-- lookup and no command, and a full feed knows which products it no longer lists.
CREATE TABLE feed_items (
    partner_id TEXT    NOT NULL,
    sku        TEXT    NOT NULL,
    content    TEXT    NOT NULL,
    listed     INTEGER NOT NULL,
    last_run   TEXT    NOT NULL,
    PRIMARY KEY (partner_id, sku)
);

-- Each partner's field mappings for CSV and JSON Lines feeds: a new version on every change;
-- a run uses the newest and records which.
CREATE TABLE feed_mappings (
    partner_id    TEXT    NOT NULL,
    format        TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    fields        TEXT    NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    PRIMARY KEY (partner_id, format, version)
);
