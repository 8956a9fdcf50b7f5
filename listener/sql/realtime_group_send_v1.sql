-- Send one message to a group: one event-log row, which every process's listener hands to the
-- members in its own memory, plus one queued message per member recorded in
-- listener_groupmember (named channels, channels added from another process). A member whose
-- channel is full misses this message, as with any Channels layer; the count comes back.
CREATE OR REPLACE FUNCTION realtime_group_send_v1(
    target_group text, event_type text, payload jsonb, message text, ttl float8, capacity integer
)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    member record;
    full_channels integer := 0;
BEGIN
    PERFORM realtime_append_event_v2(ARRAY[target_group], event_type, payload);
    FOR member IN
        SELECT g.channel, g.queue FROM listener_groupmember g
        WHERE g.group = target_group AND g.expires > clock_timestamp()
    LOOP
        IF NOT realtime_channel_send_v1(member.channel, member.queue, message, ttl, capacity) THEN
            full_channels := full_channels + 1;
        END IF;
    END LOOP;
    RETURN full_channels;
END;
$$;
