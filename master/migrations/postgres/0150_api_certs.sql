-- API users' client certificates (issue 15): every one the CA issued
-- through `brine-key --gen-api-cert`, so that the API accepts only those
-- it knows and not revoked (a CA cannot take back what it signed).
CREATE TABLE api_certs (
    serial TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    not_after_ms BIGINT NOT NULL,
    issued_ms BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX api_certs_user ON api_certs(username);
