-- Index an event's first topic on the log itself, and only its other topics in
-- listener_event_topic. Replaces v1, which put every topic of every event in that table.
-- Why: nearly every event has one topic (a room's message, a user's notice), and v1 made each
-- of them cost a second trigger call and a second row with its index entry: about 30 µs of a
-- captured insert (`python -m tests.bench.capture_cost`). The log's expression index on
-- ((topics[1]), xid, id) (migration 0008) finds a topic's events in (xid, id) order at the
-- price of one index entry; the trigger below now fires only for events with several topics
-- (a fan-out by `Topic.via`, a user's and a room's), and replay_page reads both.
CREATE OR REPLACE FUNCTION realtime_index_event_topics_v2()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO listener_event_topic (topic, xid, event_id)
    SELECT DISTINCT topic, NEW.xid, NEW.id FROM unnest(NEW.topics[2:]) AS topic
    WHERE topic IS DISTINCT FROM NEW.topics[1];
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS realtime_index_event_topics ON listener_event;
CREATE TRIGGER realtime_index_event_topics
    AFTER INSERT ON listener_event
    FOR EACH ROW WHEN (cardinality(NEW.topics) > 1)
    EXECUTE FUNCTION realtime_index_event_topics_v2();

-- Entries of first topics, written by v1, are now found through the log's own index.
-- CREATE TRIGGER above locks out writers of the log until the migration commits.
DELETE FROM listener_event_topic t
USING listener_event e
WHERE e.id = t.event_id AND t.topic = e.topics[1];
