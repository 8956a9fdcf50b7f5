-- A user's presence row on a topic was inserted (join) or deleted (leave): publish it only when
-- it is the first row of that user on that topic, or the last, across every server process.
-- Each process keeps one row per (topic, user) while it holds a socket of theirs, so tabs on
-- several processes count once. A transaction-scoped advisory lock on (topic, user) serializes
-- the check: the second of two concurrent writers waits, then (READ COMMITTED: each statement
-- takes a new snapshot) sees the first one's committed row and stays silent.
CREATE OR REPLACE FUNCTION realtime_presence_changed_v1(
    row_id bigint, topic text, user_id text, event_type text, action text, payload jsonb
)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('realtime_presence ' || topic || ' ' || user_id, 0));
    IF NOT EXISTS (
        -- An AFTER INSERT trigger sees its own row: only the others count.
        SELECT 1 FROM listener_presence p WHERE p.topic = $2 AND p.user_id = $3 AND p.id <> row_id
    ) THEN
        PERFORM realtime_append_event_v2(
            ARRAY[topic], event_type, jsonb_build_object('action', action) || payload
        );
    END IF;
END;
$$;
