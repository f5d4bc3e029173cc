-- A minion's latest returns (its last state run on the minion page and
-- in the API) without scanning every minion's job history.
CREATE INDEX IF NOT EXISTS returns_id_finished ON returns (id, finished_ms);
