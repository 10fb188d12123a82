-- Drafts with a baton (seed 003). Collaborators are the generic `room_members` table with room
-- `draft:{id}`; only `ring_holder_id` may append segments. Timestamps are unix milliseconds (BIGINT).
CREATE TABLE drafts (
    id             TEXT   PRIMARY KEY,
    title          TEXT   NOT NULL,
    owner_id       TEXT   NOT NULL REFERENCES users (id),
    ring_holder_id TEXT   NOT NULL REFERENCES users (id),
    created_at     BIGINT NOT NULL
);

-- Segments in append order. `position` is 1, 2, 3, ... per draft, assigned under the draft's row
-- lock; `seq` is the seq of the segment's `collab.segment_added` event in the draft's room.
CREATE TABLE draft_segments (
    id         TEXT   PRIMARY KEY,
    draft_id   TEXT   NOT NULL REFERENCES drafts (id),
    author_id  TEXT   NOT NULL REFERENCES users (id),
    content    TEXT   NOT NULL,
    position   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    seq        BIGINT NOT NULL
);
CREATE UNIQUE INDEX draft_segments_by_draft ON draft_segments (draft_id, position);
