-- Queue one message on a channel unless its queue already holds `capacity` live messages; wake
-- its receivers. Returns false when the queue is full (the layer raises ChannelFull).
-- As v1, with one difference: capacity is counted per queue, not per channel. A named
-- channel is its own queue, so nothing changes for it; a process's channels share one queue
-- (`specific.<process>!`), and the Channel Layer Specification asks that their capacity be
-- shared by everything up to and including the `!`. The advisory lock is taken per queue, so
-- the count and the insert stay one step for every channel that shares it.
CREATE OR REPLACE FUNCTION realtime_channel_send_v2(
    target_channel text, target_queue text, message text, ttl float8, capacity integer
)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('realtime_channel_send'), hashtext(target_queue));
    IF (
        SELECT count(*) FROM (
            SELECT 1 FROM listener_channelmessage m
            WHERE m.queue = target_queue AND m.expires > clock_timestamp()
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
