-- Send one message to a group: one event-log row, which every process's listener hands to the
-- members in its own memory, plus one queued message per member recorded in
-- listener_groupmember (named channels, channels added from another process).
-- As v1, with two differences. The event's id comes from the caller, reserved beforehand
-- (nextval of the log's sequence): the sending process delivers to its own plain members at
-- call time, and its listener must know the event is one of its own before it can possibly
-- read it, so it does not deliver it to them twice. And it returns how many recorded members
-- there were besides how many were full, for the layer's one log line per send.
CREATE OR REPLACE FUNCTION realtime_group_send_v2(
    event_id bigint, target_group text, event_type text, payload jsonb, message text,
    ttl float8, capacity integer
)
RETURNS TABLE (full_channels integer, member_channels integer)
LANGUAGE plpgsql
AS $$
DECLARE
    member record;
BEGIN
    full_channels := 0;
    member_channels := 0;
    INSERT INTO listener_event (id, topics, type, payload)
    VALUES (event_id, ARRAY[target_group], event_type, payload);
    IF current_setting('realtime.notify', true) IS DISTINCT FROM 'off' THEN
        PERFORM pg_notify('realtime_events', '');
    END IF;
    FOR member IN
        SELECT g.channel, g.queue FROM listener_groupmember g
        WHERE g.group = target_group AND g.expires > clock_timestamp()
    LOOP
        member_channels := member_channels + 1;
        IF NOT realtime_channel_send_v2(member.channel, member.queue, message, ttl, capacity) THEN
            full_channels := full_channels + 1;
        END IF;
    END LOOP;
    RETURN NEXT;
END;
$$;
