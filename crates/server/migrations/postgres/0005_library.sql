-- User-owned library (seed 000): a playlist of opaque client items and followed users. Only
-- the owner reads or writes them. Timestamps are unix milliseconds (BIGINT).
CREATE TABLE playlist_items (
    user_id    TEXT   NOT NULL REFERENCES users (id),
    item_id    TEXT   NOT NULL,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, item_id)
);

CREATE TABLE follows (
    user_id     TEXT   NOT NULL REFERENCES users (id),
    followed_id TEXT   NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, followed_id)
);
