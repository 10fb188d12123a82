-- Canvases (seed 004). Membership is the generic `room_members` table with room `canvas:{id}`.
-- Timestamps are unix milliseconds.
CREATE TABLE canvases (
    id         TEXT    PRIMARY KEY NOT NULL,
    name       TEXT    NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    created_by TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL
);

-- One tile per cell. `data` is the JSON text as posted; `like_count` is kept in step with
-- `canvas_tile_likes` in the same transaction.
CREATE TABLE canvas_tiles (
    id         TEXT    PRIMARY KEY NOT NULL,
    canvas_id  TEXT    NOT NULL REFERENCES canvases (id),
    x          INTEGER NOT NULL,
    y          INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    created_by TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    like_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX canvas_tiles_by_cell ON canvas_tiles (canvas_id, x, y);

-- One like per user and tile.
CREATE TABLE canvas_tile_likes (
    tile_id    TEXT    NOT NULL REFERENCES canvas_tiles (id),
    user_id    TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tile_id, user_id)
);

-- Canvas chat. `seq` is the seq of the message's `canvas_chat_message` event in the canvas's
-- room log (written in the same transaction), so history order is delivery order.
CREATE TABLE canvas_chat (
    id         TEXT    PRIMARY KEY NOT NULL,
    canvas_id  TEXT    NOT NULL REFERENCES canvases (id),
    user_id    TEXT    NOT NULL REFERENCES users (id),
    text       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE UNIQUE INDEX canvas_chat_by_canvas ON canvas_chat (canvas_id, seq);
