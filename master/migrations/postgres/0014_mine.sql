-- The Salt mine: each minion's data per function, shared by the masters of
-- a cluster (every master gets a minion's sends; the row is one).
CREATE TABLE mine (
    id TEXT NOT NULL,
    fun TEXT NOT NULL,
    data TEXT NOT NULL,
    allow_tgt TEXT,
    allow_tgt_type TEXT,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (id, fun)
)
