-- The embedded schema registry (Confluent REST API). A schema's id is global: the same schema
-- registered under two subjects has one id.
CREATE TABLE registry_schemas (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint TEXT    NOT NULL UNIQUE,
    schema      TEXT    NOT NULL
);

CREATE TABLE registry_versions (
    subject          TEXT    NOT NULL,
    version          BIGINT  NOT NULL CHECK (version > 0),
    schema_id        BIGINT  NOT NULL REFERENCES registry_schemas (id),
    registered_at_ms BIGINT  NOT NULL,
    PRIMARY KEY (subject, version),
    UNIQUE (subject, schema_id)
);

-- Compatibility levels; the scope '' is the global level.
CREATE TABLE registry_config (
    scope         TEXT PRIMARY KEY,
    compatibility TEXT NOT NULL
);

-- One row per relay: the position published up to, and the lease that makes one instance the
-- active one. A checkpoint is written only by the lease holder.
CREATE TABLE relay_state (
    name                TEXT    PRIMARY KEY,
    position            BIGINT  NOT NULL,
    holder              TEXT    NOT NULL,
    lease_expires_at_ms BIGINT  NOT NULL
);
