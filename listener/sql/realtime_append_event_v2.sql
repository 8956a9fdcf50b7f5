-- Append one event to the log and, unless this session says otherwise, wake the listeners.
-- As v1, with one difference: a session (or role, or database) with `realtime.notify = 'off'`
-- does not NOTIFY. NOTIFY takes a database-wide lock from pre-commit to the end of commit, so
-- concurrent writers that NOTIFY commit one at a time; without it they group-commit. Listeners
-- then find these events by polling the log (REALTIME_NOTIFY = "off", README "Performance").
CREATE OR REPLACE FUNCTION realtime_append_event_v2(topics text[], event_type text, payload jsonb)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO listener_event (topics, type, payload) VALUES (topics, event_type, payload);
    IF current_setting('realtime.notify', true) IS DISTINCT FROM 'off' THEN
        PERFORM pg_notify('realtime_events', '');
    END IF;
END;
$$;
