-- Message edits (API.md §3): when a message's snapshot was last replaced; NULL if never.
ALTER TABLE messages ADD COLUMN updated_at BIGINT;
