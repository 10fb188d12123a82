-- Durable membership of users in rooms (`thread:{id}`, `draft:{id}`, `canvas:{id}`).
-- Presence co-members and subscription rights are derived from it.
CREATE TABLE room_members (
    room      TEXT   NOT NULL,
    user_id   TEXT   NOT NULL REFERENCES users (id),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room, user_id)
);
CREATE INDEX room_members_by_user ON room_members (user_id);
