-- Users and server settings. Timestamps are unix milliseconds (BIGINT).
CREATE TABLE users (
    id          TEXT   PRIMARY KEY,
    username    TEXT   NOT NULL,
    name        TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    last_online BIGINT
);
-- Usernames are unique ignoring ASCII case (the only letters a username may contain).
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));

-- Server-wide key/value settings, e.g. the generated JWT secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
