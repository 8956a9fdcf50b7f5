-- Queries of the listener and of resuming consumers, loaded once by listener/queries.py.
-- Parameters are named; snapshots travel in Postgres' text form and are cast here.

-- name: current_snapshot
SELECT pg_current_snapshot()::text AS snapshot;

-- name: events_since
-- The first page of one snapshot step: at most %(limit)s events committed after %(since)s and
-- visible to this statement, in (xid, id) order, with the statement's own snapshot (the step
-- reads its further pages with replay_page up to that snapshot; the next step starts from it).
-- With no new events it still returns one row, carrying the snapshot.
-- What the scan reads: the events of transactions that were in progress in %(since)s (its xip
-- list, at most max_connections of them) and have committed since, looked up by xid equality,
-- and the events of transactions from since's xmax to now's xmax, by range. Never from since's
-- xmin: a transaction left open somewhere keeps xmin back, and every step would re-read all the
-- events written since it began.
WITH now AS MATERIALIZED (SELECT pg_current_snapshot() AS snapshot)
SELECT now.snapshot::text AS snapshot, e.id, e.xid::text AS xid, e.topics, e.type, e.payload::text AS payload,
    extract(epoch FROM e.created)::float8 AS created, e.group_send
FROM now
LEFT JOIN LATERAL (
    SELECT e.* FROM (
        (SELECT e.*
        FROM pg_snapshot_xip(%(since)s::pg_snapshot) AS x (xid)
        CROSS JOIN LATERAL (
            -- (xid, id) > (x, 0) rather than xid = x: see replay_page.
            SELECT * FROM listener_event e
            WHERE (e.xid, e.id) > (x.xid, 0) AND e.xid <= x.xid
            ORDER BY e.xid, e.id
            LIMIT %(limit)s
        ) e
        WHERE pg_visible_in_snapshot(x.xid, now.snapshot))
        UNION ALL
        (SELECT * FROM listener_event e
        WHERE e.xid >= pg_snapshot_xmax(%(since)s::pg_snapshot)
            AND e.xid < pg_snapshot_xmax(now.snapshot)
            AND pg_visible_in_snapshot(e.xid, now.snapshot)
        ORDER BY e.xid, e.id
        LIMIT %(limit)s)
    ) e
    ORDER BY e.xid, e.id
    LIMIT %(limit)s
) e ON true
ORDER BY e.xid, e.id;

-- name: resume_point
-- Where a resuming consumer stops replaying, and the global horizon that prunes before
-- per-topic horizons wrote (listener.retention still honours it). The first statement of its
-- transaction: it sets the isolation level in the same round trip, and the SELECT takes the
-- REPEATABLE READ snapshot that the access check then reads in (two results: skip the first).
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SELECT pg_current_snapshot()::text AS until,
    COALESCE((SELECT pruned_below_xid::text FROM listener_retention WHERE id = 1), '0') AS pruned_below;

-- name: replay_page
-- A page of the events of %(topics)s (NULL: every topic) committed after %(since)s and up to
-- %(until)s, in (xid, id) order, after the event (%(after_xid)s, %(after_id)s); with each
-- event's creation time, for `manage.py listen`. Listener steps read their later pages here too.
-- Scan bounds as in events_since: since's in-progress transactions that %(until)s sees, by xid
-- equality, then the range [since's xmax, until's xmax). With topics, both go through the
-- log's index on ((topics[1]), xid, id) and the (topic, xid, event_id) index of
-- listener_event_topic (later topics), so a page reads its topics' events only; then each
-- found event is read from the log by id. The keyset position (computed once, in `committed`
-- and `later`) enters each index scan as its start key (one row comparison, or xid equality
-- plus id), so a page of a large transaction starts where the last one stopped instead of
-- re-reading its beginning. Each branch stops after %(limit)s
-- rows, so a page costs at most 2 x (in-progress transactions + 1) x topics x limit index entries.
WITH committed AS MATERIALIZED (
    -- Transactions in progress at `since` that had committed by `until`, each with the id its
    -- scan starts after (the keyset's in the keyset's transaction, else 0).
    SELECT x.xid,
        CASE WHEN x.xid = %(after_xid)s::xid8 THEN %(after_id)s::bigint ELSE 0 END AS after_id
    FROM pg_snapshot_xip(%(since)s::pg_snapshot) AS x (xid)
    WHERE pg_visible_in_snapshot(x.xid, %(until)s::pg_snapshot) AND x.xid >= %(after_xid)s::xid8
), later AS MATERIALIZED (
    -- Where the range of transactions that began at or after since's xmax resumes.
    SELECT greatest(%(after_xid)s::xid8, pg_snapshot_xmax(%(since)s::pg_snapshot)) AS after_xid,
        CASE WHEN %(after_xid)s::xid8 >= pg_snapshot_xmax(%(since)s::pg_snapshot)
            THEN %(after_id)s::bigint ELSE 0 END AS after_id
)
SELECT e.id, e.xid::text AS xid, e.topics, e.type, e.payload::text AS payload,
    extract(epoch FROM e.created)::float8 AS created, e.group_send
FROM (
    -- Every topic: the log's own (xid, id) index.
    (SELECT e.*
    FROM committed
    CROSS JOIN LATERAL (
        SELECT * FROM listener_event e
        -- Not `e.xid = committed.xid`: with an equality on xid, the scan would start at the
        -- transaction's first event instead of at the keyset position.
        WHERE (e.xid, e.id) > (committed.xid, committed.after_id) AND e.xid <= committed.xid
        ORDER BY e.xid, e.id
        LIMIT %(limit)s
    ) e
    WHERE %(topics)s::text[] IS NULL)
    UNION ALL
    (SELECT e.*
    FROM later
    CROSS JOIN LATERAL (
        SELECT * FROM listener_event e
        WHERE (e.xid, e.id) > (later.after_xid, later.after_id)
            AND e.xid < pg_snapshot_xmax(%(until)s::pg_snapshot)
            AND pg_visible_in_snapshot(e.xid, %(until)s::pg_snapshot)
        ORDER BY e.xid, e.id
        LIMIT %(limit)s
    ) e
    WHERE %(topics)s::text[] IS NULL)
    UNION ALL
    -- Given topics: each topic's events where it comes first, through the log's index on
    -- ((topics[1]), xid, id), and where it comes later, through listener_event_topic; then
    -- those events from the log.
    (SELECT e.*
    FROM (
        SELECT DISTINCT t.xid, t.event_id
        FROM unnest(%(topics)s::text[]) AS w (topic)
        CROSS JOIN LATERAL (
            (SELECT t.xid, t.event_id
            FROM committed
            CROSS JOIN LATERAL (
                (SELECT e.xid, e.id AS event_id FROM listener_event e
                WHERE e.topics[1] = w.topic AND e.xid = committed.xid AND e.id > committed.after_id
                ORDER BY e.xid, e.id
                LIMIT %(limit)s)
                UNION ALL
                (SELECT t.xid, t.event_id FROM listener_event_topic t
                WHERE t.topic = w.topic AND t.xid = committed.xid AND t.event_id > committed.after_id
                ORDER BY t.xid, t.event_id
                LIMIT %(limit)s)
            ) t)
            UNION ALL
            (SELECT t.xid, t.event_id
            FROM later
            CROSS JOIN LATERAL (
                (SELECT e.xid, e.id AS event_id FROM listener_event e
                WHERE e.topics[1] = w.topic AND (e.xid, e.id) > (later.after_xid, later.after_id)
                    AND e.xid < pg_snapshot_xmax(%(until)s::pg_snapshot)
                    AND pg_visible_in_snapshot(e.xid, %(until)s::pg_snapshot)
                ORDER BY e.xid, e.id
                LIMIT %(limit)s)
                UNION ALL
                (SELECT t.xid, t.event_id FROM listener_event_topic t
                WHERE t.topic = w.topic AND (t.xid, t.event_id) > (later.after_xid, later.after_id)
                    AND t.xid < pg_snapshot_xmax(%(until)s::pg_snapshot)
                    AND pg_visible_in_snapshot(t.xid, %(until)s::pg_snapshot)
                ORDER BY t.xid, t.event_id
                LIMIT %(limit)s)
            ) t)
        ) t
        ORDER BY t.xid, t.event_id
        LIMIT %(limit)s
    ) t
    JOIN listener_event e ON e.id = t.event_id)
) e
ORDER BY e.xid, e.id
LIMIT %(limit)s;

-- name: prune_events_at_once
-- The one-statement prune of earlier versions, kept only so that bench/prune.py can
-- measure what batches changed: one long transaction that holds every deleted row's lock, keeps
-- the xmin horizon back and leaves all its dead rows to one late autovacuum.
WITH gone AS (
    DELETE FROM listener_event WHERE created < %(before)s RETURNING id, xid, topics
), gone_topics AS (
    DELETE FROM listener_event_topic t
    USING (SELECT DISTINCT topic, gone.xid, gone.id FROM gone, unnest(gone.topics[2:]) AS topic) g
    WHERE t.topic = g.topic AND t.xid = g.xid AND t.event_id = g.id
)
SELECT count(*) AS pruned FROM gone;

-- name: prune_lock
-- One prune at a time (session lock, released at the end of the command).
SELECT pg_try_advisory_lock(hashtext('listener.prune_events')) AS locked;

-- name: prune_unlock
SELECT pg_advisory_unlock(hashtext('listener.prune_events'));

-- name: prune_batch
-- One short transaction of `prune_events`: look at the next %(limit)s events after
-- (%(after_xid)s, %(after_id)s) in (xid, id) order, delete those created before %(before)s up
-- to the first one that is not (the horizon: nothing at or after it is touched, so every run
-- prunes a prefix of the committed log), with their topic index entries, and raise each pruned
-- topic's horizon (its highest pruned (xid, event id), and this statement's snapshot, in which
-- every pruned event is visible) in the same transaction. Events of transactions still in
-- progress are invisible here and stay. Returns how many events went, how many were looked at,
-- whether the horizon was reached, and where the next batch starts.
WITH candidates AS MATERIALIZED (
    SELECT id, xid, topics, created FROM listener_event
    WHERE (xid, id) > (%(after_xid)s::xid8, %(after_id)s::bigint)
    ORDER BY xid, id
    LIMIT %(limit)s
), horizon AS MATERIALIZED (
    SELECT xid, id FROM candidates WHERE created >= %(before)s ORDER BY xid, id LIMIT 1
), gone AS (
    DELETE FROM listener_event e
    USING candidates c
    WHERE e.id = c.id
        AND NOT EXISTS (SELECT FROM horizon h WHERE (c.xid, c.id) >= (h.xid, h.id))
    RETURNING e.id, e.xid, e.topics
), gone_topics AS (
    DELETE FROM listener_event_topic t
    USING (SELECT DISTINCT topic, gone.xid, gone.id FROM gone, unnest(gone.topics[2:]) AS topic) g
    WHERE t.topic = g.topic AND t.xid = g.xid AND t.event_id = g.id
), tops AS (
    SELECT DISTINCT ON (topic) topic, gone.xid, gone.id
    FROM gone, unnest(gone.topics) AS topic
    ORDER BY topic, gone.xid DESC, gone.id DESC
), recorded AS (
    INSERT INTO listener_retention_topic AS r (topic, xid, event_id, snapshot, pruned_at)
    SELECT topic, xid, id, pg_current_snapshot()::text, now() FROM tops
    ON CONFLICT (topic) DO UPDATE SET
        xid = CASE WHEN (excluded.xid, excluded.event_id) > (r.xid, r.event_id)
            THEN excluded.xid ELSE r.xid END,
        event_id = CASE WHEN (excluded.xid, excluded.event_id) > (r.xid, r.event_id)
            THEN excluded.event_id ELSE r.event_id END,
        snapshot = excluded.snapshot,
        pruned_at = excluded.pruned_at
)
SELECT (SELECT count(*) FROM gone) AS pruned,
    (SELECT count(*) FROM candidates) AS scanned,
    EXISTS (SELECT FROM horizon) AS reached,
    (SELECT c.xid::text FROM candidates c ORDER BY c.xid DESC, c.id DESC LIMIT 1) AS last_xid,
    (SELECT c.id FROM candidates c ORDER BY c.xid DESC, c.id DESC LIMIT 1) AS last_id;

-- name: prune_vacuum
-- After a prune: mark the freed space reusable, so new events fill it instead of growing the files.
VACUUM (ANALYZE) listener_event, listener_event_topic;

-- name: topic_horizons
-- How far each of %(topics)s was pruned (topics never pruned have no row).
SELECT topic, xid::text AS xid, event_id, snapshot FROM listener_retention_topic
WHERE topic = ANY(%(topics)s::text[]);

-- name: log_stats
SELECT count(*) AS events, min(created) AS oldest, pg_notification_queue_usage() AS queue_usage
FROM listener_event;

-- name: topic_index_trigger
-- The trigger that fills listener_event_topic, and whether it fires ('D': disabled).
SELECT tgenabled::text FROM pg_trigger
WHERE tgrelid = 'listener_event'::regclass AND tgname = 'realtime_index_event_topics';

-- name: publish
SELECT realtime_append_event_v1(%(topics)s::text[], %(type)s, %(payload)s::jsonb);

-- name: channel_send
-- Channel messages are not durable (as in any Channels layer): their transactions commit without
-- waiting for the WAL flush. Event-log writes (group_send) keep the server's setting.
SELECT realtime_channel_send_v2(%(channel)s, %(queue)s, %(message)s, %(ttl)s, %(capacity)s) AS sent,
    set_config('synchronous_commit', 'off', true) AS async_commit;

-- name: group_send
SELECT full_channels, member_channels FROM realtime_group_send_v3(
    %(group)s, %(type)s, %(payload)s::jsonb, %(message)s, %(ttl)s, %(capacity)s, %(own_queues)s::text[]
);

-- name: channel_claim_one
-- Take the oldest live message of one channel; receivers in other sessions skip the row this
-- one holds, so each message goes to exactly one of them.
DELETE FROM listener_channelmessage
WHERE id = (
    SELECT id FROM listener_channelmessage
    WHERE channel = %(channel)s AND expires > clock_timestamp()
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING payload, set_config('synchronous_commit', 'off', true) AS async_commit;

-- name: channel_claim_queue
-- Take every message of one process's channels (its queue), oldest first, except those of
-- channels whose local buffer is full: they wait here, where senders count them.
WITH taken AS (
    DELETE FROM listener_channelmessage
    WHERE queue = ANY(%(queues)s::text[]) AND channel <> ALL(%(full)s::text[])
    RETURNING id, channel, payload, extract(epoch FROM expires)::float8 AS expires
)
SELECT channel, payload, expires, set_config('synchronous_commit', 'off', true) AS async_commit
FROM taken ORDER BY id;

-- name: channel_wake
SELECT pg_notify('realtime_channels', %(queue)s);

-- name: channel_expire
-- Drop messages nobody took in time.
DELETE FROM listener_channelmessage WHERE expires <= clock_timestamp();

-- name: group_member_add
INSERT INTO listener_groupmember ("group", channel, queue, expires)
VALUES (%(group)s, %(channel)s, %(queue)s, clock_timestamp() + make_interval(secs => %(ttl)s))
ON CONFLICT ("group", channel) DO UPDATE SET expires = excluded.expires;

-- name: group_member_renew
-- Extend the rows that stand for this process's plain members of groups (listener.layer.queued),
-- writing again any that expired meanwhile.
INSERT INTO listener_groupmember ("group", channel, queue, expires)
SELECT r.group, r.channel, r.queue, clock_timestamp() + make_interval(secs => %(ttl)s)
FROM unnest(%(groups)s::text[], %(channels)s::text[], %(queues)s::text[]) AS r ("group", channel, queue)
ON CONFLICT ("group", channel) DO UPDATE SET expires = excluded.expires;

-- name: group_member_discard
DELETE FROM listener_groupmember WHERE "group" = %(group)s AND channel = %(channel)s;

-- name: group_member_expire
DELETE FROM listener_groupmember WHERE expires <= clock_timestamp();

-- name: layer_flush
-- Every queued message and every recorded membership, of every process.
TRUNCATE listener_channelmessage, listener_groupmember;

-- name: presence_beat
-- This process is alive; `inserted` is true when its row was missing (first beat, or another
-- process reaped it after a stall): its presence rows are gone too and must be written again.
INSERT INTO listener_presenceprocess (id, heartbeat) VALUES (%(process)s, clock_timestamp())
ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat
RETURNING (xmax = 0) AS inserted;

-- name: presence_reap
-- Processes silent for %(timeout)s seconds died without closing their sockets: drop them and
-- their presence rows (whose delete trigger publishes the users' leaves, one event per topic),
-- and any row whose process row is already gone.
WITH dead AS (
    DELETE FROM listener_presenceprocess
    WHERE heartbeat < clock_timestamp() - make_interval(secs => %(timeout)s)
    RETURNING id
)
DELETE FROM listener_presence p
WHERE p.process IN (SELECT id FROM dead)
    OR NOT EXISTS (SELECT 1 FROM listener_presenceprocess pp WHERE pp.id = p.process)
RETURNING p.topic;

-- name: presence_write
-- One batch window's changes of this process, in one transaction (realtime_presence_write_v1.sql):
-- its triggers publish one presence event per topic.
SELECT realtime_presence_write_v1(
    %(process)s, %(leave_topics)s::text[], %(leave_users)s::text[],
    %(join_topics)s::text[], %(join_users)s::text[], %(join_payloads)s::jsonb[]
);

-- name: presence_leave_all
-- A process that shuts down cleanly leaves at once instead of waiting to be reaped.
WITH gone AS (DELETE FROM listener_presenceprocess WHERE id = %(process)s)
DELETE FROM listener_presence WHERE process = %(process)s;
-- name: waker_session
-- The waker's lock wait and its loop are single statements that last as long as the session.
-- The loop must send its client nothing (a client that stops reading would block it), so no
-- notice reaches the client whatever the role's client_min_messages says.
SELECT set_config('statement_timeout', '0', false), set_config('client_min_messages', 'warning', false);

-- name: waker_loop
-- The elected waker's ticks, inside Postgres (realtime_waker_v2.sql); returns only with an error.
CALL realtime_waker_v2(%(seen)s, %(quiet)s, %(busy)s);

-- name: waker_elected
-- A new waker wakes everyone once: events committed after its predecessor's last tick
-- would otherwise wait for the listeners' safety poll.
SELECT pg_current_snapshot()::text AS snapshot, pg_notify('realtime_events', '') IS NULL AS woke;

-- name: waker_lock
-- Blocks until this session holds the waker lock (per database; released when it ends).
SELECT pg_advisory_lock(%(key)s);

-- name: session_liveness
-- A backend notices that its client is gone only when it reads from or writes to it: one that
-- runs a long statement (the waker's loop, a standby's lock wait) ran on for minutes after its
-- server process was killed, keeping a connection slot and the database busy. This makes it
-- look while a statement runs (client_connection_check_interval, Postgres 14+), and turns a
-- silent network loss into a closed socket (server-side TCP keepalives; ignored on Unix sockets).
SELECT set_config('tcp_keepalives_idle', %(idle)s, false),
    set_config('tcp_keepalives_interval', %(interval)s, false),
    set_config('tcp_keepalives_count', %(count)s, false),
    CASE WHEN current_setting('server_version_num')::int >= 140000
        THEN set_config('client_connection_check_interval', %(check)s, false) END;
