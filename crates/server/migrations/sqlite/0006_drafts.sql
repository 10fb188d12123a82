-- Drafts with a baton (seed 003). Collaborators are the generic `room_members` table with room
-- `draft:{id}`; only `ring_holder_id` may append segments. Timestamps are unix milliseconds (INTEGER).
CREATE TABLE drafts (
    id             TEXT   PRIMARY KEY NOT NULL,
    title          TEXT   NOT NULL,
    owner_id       TEXT   NOT NULL REFERENCES users (id),
    ring_holder_id TEXT   NOT NULL REFERENCES users (id),
    created_at     INTEGER NOT NULL
);

-- Segments in append order. `position` is 1, 2, 3, ... per draft, assigned under the draft's row
-- lock; `seq` is the seq of the segment's `collab.segment_added` event in the draft's room.
CREATE TABLE draft_segments (
    id         TEXT   PRIMARY KEY NOT NULL,
    draft_id   TEXT   NOT NULL REFERENCES drafts (id),
    author_id  TEXT   NOT NULL REFERENCES users (id),
    content    TEXT   NOT NULL,
    position   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE UNIQUE INDEX draft_segments_by_draft ON draft_segments (draft_id, position);
