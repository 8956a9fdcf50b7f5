-- Send one message to a group: one event-log row, which every process's listener hands to the
-- real-time sockets in its own memory, plus one queued message per row of listener_groupmember:
-- a named channel, a channel added from another process, or `<queue>!#<group>`, which stands
-- for every plain (queue-fed) member of the group that one process holds under that queue.
-- As v2, with three differences. The event is marked `group_send`, so listeners leave its
-- plain members to their queues: a message then reaches another process's channel through the
-- same queue as the sender's `send`s to it, claimed in id order, so one writer's sends and
-- group_sends to one channel arrive in the order written (two paths, a queue and the log, have
-- no order between them). Rows standing for the sender's own queues (`own_queues`) are
-- skipped: the sender's plain members took the message at call time. And the id is the log's
-- own again: no listener needs to know it before reading it.
CREATE OR REPLACE FUNCTION realtime_group_send_v3(
    target_group text, event_type text, payload jsonb, message text, ttl float8, capacity integer,
    own_queues text[]
)
RETURNS TABLE (full_channels integer, member_channels integer)
LANGUAGE plpgsql
AS $$
DECLARE
    member record;
BEGIN
    full_channels := 0;
    member_channels := 0;
    INSERT INTO listener_event (topics, type, payload, group_send)
    VALUES (ARRAY[target_group], event_type, payload, true);
    IF current_setting('realtime.notify', true) IS DISTINCT FROM 'off' THEN
        PERFORM pg_notify('realtime_events', '');
    END IF;
    FOR member IN
        SELECT g.channel, g.queue FROM listener_groupmember g
        WHERE g.group = target_group AND g.expires > clock_timestamp()
            AND NOT (g.queue = ANY(own_queues) AND strpos(g.channel, '!#') > 0)
    LOOP
        member_channels := member_channels + 1;
        IF NOT realtime_channel_send_v2(member.channel, member.queue, message, ttl, capacity) THEN
            full_channels := full_channels + 1;
        END IF;
    END LOOP;
    RETURN NEXT;
END;
$$;
