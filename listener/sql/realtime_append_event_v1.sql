-- Append one event to the log and wake the listeners.
-- Row triggers call this in the writing transaction, so a rollback leaves no event behind.
-- The log row is the source of truth; NOTIFY only wakes listeners, with a constant payload
-- that Postgres folds to one notification per transaction.
CREATE OR REPLACE FUNCTION realtime_append_event_v1(topics text[], event_type text, payload jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO listener_event (topics, type, payload) VALUES (topics, event_type, payload);
    PERFORM pg_notify('realtime_events', '');
END;
$$;
