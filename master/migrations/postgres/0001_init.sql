-- Brine's shared store: every master of a cluster reads and writes here.
-- Applied once, in file order, under an advisory lock (masters starting
-- together do not race); applied versions are kept in brine_migrations.
CREATE TABLE keys (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    csr_pem TEXT,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE grains (
    id TEXT PRIMARY KEY,
    grains TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- One row per (minion, master): a minion connects to several masters.
CREATE TABLE presence (
    id TEXT NOT NULL,
    master TEXT NOT NULL,
    connected BOOLEAN NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    PRIMARY KEY (id, master)
);
CREATE TABLE jobs (
    jid TEXT PRIMARY KEY,
    tgt TEXT NOT NULL,
    tgt_type TEXT NOT NULL,
    fun TEXT NOT NULL,
    arg TEXT NOT NULL,
    kwarg TEXT NOT NULL,
    username TEXT NOT NULL,
    timeout BIGINT NOT NULL,
    expected TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    master TEXT NOT NULL
);
CREATE INDEX jobs_created ON jobs (created_ms);
CREATE TABLE job_minions (
    jid TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (jid, id)
);
-- seq: the order returns were stored in, so that a master gathering a job
-- reads only what arrived since it last looked.
CREATE TABLE returns (
    seq BIGSERIAL NOT NULL,
    jid TEXT NOT NULL,
    id TEXT NOT NULL,
    fun TEXT NOT NULL,
    ret TEXT NOT NULL,
    retcode INTEGER NOT NULL,
    success BOOLEAN NOT NULL,
    error TEXT,
    started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL,
    master TEXT NOT NULL,
    PRIMARY KEY (jid, id)
);
CREATE INDEX returns_seq ON returns (jid, seq);
-- Each master says it is alive every few seconds; presence rows of a
-- master that stopped saying so (killed, partitioned) do not count.
CREATE TABLE masters (
    master TEXT PRIMARY KEY,
    alive_ms BIGINT NOT NULL
);
-- The cluster's identity: masters on this database tell their minions, so
-- that a minion hands a return spooled for a dead master to another master
-- of the same cluster (and to no other).
CREATE TABLE cluster_identity (
    id TEXT NOT NULL
);
INSERT INTO cluster_identity (id) VALUES (gen_random_uuid()::text);
