-- The reactor's claims (issue 14): each master of a cluster sees every
-- minion event; the one whose row lands first runs the rule for it.
-- Pruned with the job cache.
CREATE TABLE reactions (
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    claimed_ms BIGINT NOT NULL,
    PRIMARY KEY (rule, key)
);
CREATE INDEX reactions_claimed ON reactions(claimed_ms);
