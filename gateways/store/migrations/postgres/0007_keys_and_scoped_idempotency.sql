-- API keys: who a caller is. Only the SHA-256 of a key's secret is kept; the secret is shown
-- once, when the key is created. `subject` is the partner or customer id of a partner or
-- customer key, NULL for an admin key. A revoked key keeps its row, with when. Times are Unix
-- milliseconds.
CREATE TABLE api_keys (
    key_id        TEXT   PRIMARY KEY,
    secret_hash   TEXT   NOT NULL UNIQUE,
    role          TEXT   NOT NULL,
    subject       TEXT,
    label         TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);

-- Idempotency keys live in namespaces: `http/<principal>/<key>` for HTTP clients, one
-- keyspace per principal; `ingest/`, `policy/` and `demo/` for the system's own. Keys
-- written before the namespaces existed keep working: the system's own move into theirs, and
-- a client's key goes to `legacy/<key>`, which a client's retry of the same request still
-- finds (the fingerprint must match) until retention removes it.
UPDATE idempotency_keys SET key = 'demo/' || substr(key, 6) WHERE key LIKE 'demo-%';
UPDATE idempotency_keys SET key = 'legacy/' || key
 WHERE key NOT LIKE 'ingest/%' AND key NOT LIKE 'policy/%' AND key NOT LIKE 'demo/%';
-- Retention sweeps walk the expiring keys oldest first.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
