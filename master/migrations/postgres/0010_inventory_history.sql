-- The inventory's history: one row per change of a minion's grains, holding
-- only what changed (top-level grains set to new values, and removed), and
-- named baselines of grains and last state results to compare with later.
CREATE TABLE grains_history (
    id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    delta TEXT NOT NULL
);
CREATE INDEX grains_history_id ON grains_history (id, at_ms);
CREATE INDEX grains_history_at ON grains_history (at_ms);
CREATE TABLE baselines (
    name TEXT PRIMARY KEY,
    target TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    data TEXT NOT NULL
);
-- The audit log: every job, runner and key action asked for, allowed or
-- denied, with who asked and from where (secrets redacted before writing).
CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    username TEXT NOT NULL,
    source TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    fun TEXT NOT NULL,
    args TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
-- API login tokens: only their SHA-256 is kept, so every master of the
-- cluster accepts them and a leaked database holds no usable token.
CREATE TABLE api_tokens (
    hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX api_tokens_expires ON api_tokens (expires_ms);
