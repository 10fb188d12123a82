-- Threads (seed 000). Membership is the generic `room_members` table with room `thread:{id}`;
-- names and usernames are always read from `users` by JOIN, never copied. Timestamps are unix
-- milliseconds (INTEGER).
CREATE TABLE threads (
    id         TEXT   PRIMARY KEY NOT NULL,
    name       TEXT   NOT NULL,
    created_by TEXT   NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL
);

-- Pending invitations by user. Accepting one deletes it and inserts the membership in the same
-- transaction.
CREATE TABLE thread_invites (
    thread_id  TEXT   NOT NULL REFERENCES threads (id),
    user_id    TEXT   NOT NULL REFERENCES users (id),
    invited_by TEXT   NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX thread_invites_by_user ON thread_invites (user_id);

-- Shareable invite links: whoever knows `code` (128 random bits, hex) may join `thread_id`.
CREATE TABLE thread_invite_links (
    code       TEXT   PRIMARY KEY NOT NULL,
    thread_id  TEXT   NOT NULL REFERENCES threads (id),
    created_by TEXT   NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX thread_invite_links_by_thread ON thread_invite_links (thread_id);

-- Messages. `seq` is the seq of the message's `message_created` event in the thread's room
-- log (written in the same transaction), so message order is exactly delivery order.
-- `snapshot` is the JSON text as posted.
CREATE TABLE messages (
    id         TEXT   PRIMARY KEY NOT NULL,
    thread_id  TEXT   NOT NULL REFERENCES threads (id),
    user_id    TEXT   NOT NULL REFERENCES users (id),
    snapshot   TEXT   NOT NULL,
    created_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_by_thread ON messages (thread_id, seq);
