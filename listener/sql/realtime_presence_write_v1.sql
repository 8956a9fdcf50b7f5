-- A server process's presence changes of one batch window, in one transaction: its rows of
-- the users who left go, the rows of those who joined come (in the order they joined, which
-- the ids keep). The table's statement triggers then publish one event per topic
-- (realtime_presence_changed_v2). Every (topic, user) of the batch is locked first, in one
-- order: the triggers lock the leaves and then the joins, and two processes doing that in
-- opposite orders would deadlock.
CREATE OR REPLACE FUNCTION realtime_presence_write_v1(
    writer text, leave_topics text[], leave_users text[], join_topics text[], join_users text[],
    join_payloads jsonb[]
)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('realtime_presence ' || k.topic || ' ' || k.user_id, 0))
    FROM (
        SELECT DISTINCT c.topic, c.user_id
        FROM unnest(leave_topics || join_topics, leave_users || join_users) AS c(topic, user_id)
        ORDER BY c.topic, c.user_id
    ) k;
    IF cardinality(leave_topics) > 0 THEN
        DELETE FROM listener_presence p
        USING unnest(leave_topics, leave_users) AS k(topic, user_id)
        WHERE p.process = writer AND p.topic = k.topic AND p.user_id = k.user_id;
    END IF;
    IF cardinality(join_topics) > 0 THEN
        INSERT INTO listener_presence (topic, user_id, process, payload)
        SELECT k.topic, k.user_id, writer, k.payload
        FROM unnest(join_topics, join_users, join_payloads) WITH ORDINALITY AS k(topic, user_id, payload, n)
        ORDER BY k.n
        ON CONFLICT (topic, user_id, process) DO NOTHING;
    END IF;
END;
$$;
