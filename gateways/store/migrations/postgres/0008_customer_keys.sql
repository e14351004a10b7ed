-- Each customer's data key, which seals its personal data in events (shipping addresses, a
-- delivery's receiver) as `pii:v1:<key id>:…`. Forgetting a customer destroys its keys: the
-- key is set to NULL and the time recorded, and every sealed copy (events, Kafka, read models)
-- is unreadable from then on. A customer has at most one live key; one who orders again after
-- being forgotten gets a new one. `data_key` is 256 bits in base64. Times are Unix ms.
CREATE TABLE customer_keys (
    key_id          TEXT   PRIMARY KEY,
    customer_id     TEXT   NOT NULL,
    data_key        TEXT,
    created_at_ms   BIGINT NOT NULL,
    destroyed_at_ms BIGINT
);
CREATE UNIQUE INDEX customer_keys_live ON customer_keys (customer_id) WHERE destroyed_at_ms IS NULL;
