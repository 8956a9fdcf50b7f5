-- Queue one message on a channel unless it already holds `capacity` live messages; wake its
-- receivers. Returns false when the channel is full (the layer raises ChannelFull).
-- A transaction-scoped advisory lock per channel makes the count and the insert one step, so
-- concurrent senders cannot overfill a channel. NOTIFY carries the queue's name, so a process
-- only wakes the receivers of that queue; a NOTIFY is sent whatever `realtime.notify` says,
-- because nothing else would wake a receiver that waits on an empty channel.
CREATE OR REPLACE FUNCTION realtime_channel_send_v1(
    target_channel text, target_queue text, message text, ttl float8, capacity integer
)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('realtime_channel_send'), hashtext(target_channel));
    IF (
        SELECT count(*) FROM (
            SELECT 1 FROM listener_channelmessage m
            WHERE m.channel = target_channel AND m.expires > clock_timestamp()
            LIMIT capacity
        ) live
    ) >= capacity THEN
        RETURN false;
    END IF;
    INSERT INTO listener_channelmessage (queue, channel, payload, expires)
    VALUES (target_queue, target_channel, message, clock_timestamp() + make_interval(secs => ttl));
    PERFORM pg_notify('realtime_channels', target_queue);
    RETURN true;
END;
$$;
