-- The durable event log. Every room with durable events has a row in `rooms`; its next event
-- gets `last_seq + 1`, allocated in the same transaction as the change that caused it, so
-- seqs are gap-free per room. `pruned_through` is the highest seq retention has removed: a
-- cursor below it, or above `last_seq` (history reset), needs a resync.
CREATE TABLE rooms (
    room           TEXT PRIMARY KEY NOT NULL,
    last_seq       INTEGER NOT NULL,
    pruned_through INTEGER NOT NULL DEFAULT 0
);

-- `frame` is the event exactly as sent on the wire (JSON text including room, seq and
-- timestamp), so a replay sends stored bytes without re-encoding.
CREATE TABLE events (
    room       TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    frame      TEXT NOT NULL,
    PRIMARY KEY (room, seq)
);
CREATE INDEX events_by_age ON events (created_at);
