-- A command refused under an idempotency key records the refusal, so the same request again
-- (an upstream record redelivered) gets the same answer instead of a second try that may now
-- succeed. NULL for a key whose command was accepted.
ALTER TABLE idempotency_keys ADD COLUMN refusal TEXT;
