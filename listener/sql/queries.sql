-- Queries of the listener and of resuming consumers, loaded once by listener/queries.py.
-- Parameters are named; snapshots travel in Postgres' text form and are cast here.

-- name: current_snapshot
SELECT pg_current_snapshot()::text AS snapshot;

-- name: events_since
-- One snapshot step: the events committed after %(since)s and visible to this statement,
-- together with the statement's own snapshot (the next step starts from it). With no new
-- events it still returns one row, carrying the snapshot.
WITH now AS (SELECT pg_current_snapshot() AS snapshot)
SELECT now.snapshot::text AS snapshot, e.id, e.xid::text AS xid, e.topics, e.type, e.payload::text AS payload,
    extract(epoch FROM e.created)::float8 AS created
FROM now
LEFT JOIN listener_event e
    ON e.xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
    AND NOT pg_visible_in_snapshot(e.xid, %(since)s::pg_snapshot)
    AND pg_visible_in_snapshot(e.xid, now.snapshot)
ORDER BY e.xid, e.id;

-- name: resume_point
-- Where a resuming consumer stops replaying, and how far the log was pruned.
SELECT pg_current_snapshot()::text AS until,
    COALESCE((SELECT pruned_below_xid::text FROM listener_retention WHERE id = 1), '0') AS pruned_below;

-- name: replay_page
-- A page of the events of %(topics)s (NULL: every topic) committed after %(since)s and up to
-- %(until)s, in (xid, id) order, after the event (%(after_xid)s, %(after_id)s); with each
-- event's creation time, for `manage.py listen`.
SELECT e.id, e.xid::text AS xid, e.topics, e.type, e.payload::text AS payload,
    extract(epoch FROM e.created)::float8 AS created
FROM listener_event e
WHERE (%(topics)s::text[] IS NULL OR e.topics && %(topics)s::text[])
    AND e.xid >= pg_snapshot_xmin(%(since)s::pg_snapshot)
    AND NOT pg_visible_in_snapshot(e.xid, %(since)s::pg_snapshot)
    AND pg_visible_in_snapshot(e.xid, %(until)s::pg_snapshot)
    AND (e.xid, e.id) > (%(after_xid)s::xid8, %(after_id)s::bigint)
ORDER BY e.xid, e.id
LIMIT %(limit)s;

-- name: prune_events
-- Delete events older than %(before)s and remember the highest pruned transaction, so that
-- cursors which may miss a pruned event are told to resync instead of resuming with a gap.
WITH gone AS (
    DELETE FROM listener_event WHERE created < %(before)s RETURNING xid
), horizon AS (
    SELECT max(xid) AS top, count(*) AS n FROM gone
)
INSERT INTO listener_retention (id, pruned_below_xid, pruned_at)
SELECT 1, (horizon.top::text::bigint + 1)::text::xid8, now() FROM horizon WHERE horizon.n > 0
ON CONFLICT (id) DO UPDATE SET
    pruned_below_xid = greatest(listener_retention.pruned_below_xid, excluded.pruned_below_xid),
    pruned_at = excluded.pruned_at
RETURNING (SELECT n FROM horizon) AS pruned;

-- name: log_stats
SELECT count(*) AS events, min(created) AS oldest, pg_notification_queue_usage() AS queue_usage
FROM listener_event;

-- name: publish
SELECT realtime_append_event_v1(%(topics)s::text[], %(type)s, %(payload)s::jsonb);

-- name: waker_tick
-- The elected waker's tick: has any event become visible since %(seen)s? If so, one NOTIFY
-- wakes every listener. Ids cannot tell (they are taken at insert, commits land in another
-- order), so the test is visibility: an event unseen by %(seen)s has an xid at or above its
-- xmax or in its in-progress list; both are index probes on (xid, id), bounded by what
-- started or ended since the last tick, never by the log's size or by an old open transaction.
-- Every bound is an expression of the parameter or of pg_current_snapshot() (one value per
-- statement), never a join, so that both probes are index range scans.
WITH fresh AS (
    SELECT EXISTS (
        SELECT 1 FROM listener_event e
        WHERE e.xid >= pg_snapshot_xmax(%(seen)s::pg_snapshot)
            AND e.xid < pg_snapshot_xmax(pg_current_snapshot())
            AND pg_visible_in_snapshot(e.xid, pg_current_snapshot())
    ) OR EXISTS (
        -- Transactions in progress at the last tick that have ended since: did they log?
        SELECT 1 FROM pg_snapshot_xip(%(seen)s::pg_snapshot) AS ended(xid)
        WHERE pg_visible_in_snapshot(ended.xid, pg_current_snapshot())
            AND EXISTS (SELECT 1 FROM listener_event e WHERE e.xid = ended.xid)
    ) AS found
),
woke AS (SELECT pg_notify('realtime_events', '') FROM fresh WHERE fresh.found)
SELECT pg_current_snapshot()::text AS snapshot, (SELECT count(*) FROM woke) > 0 AS woke;

-- name: waker_elected
-- A new waker wakes everyone once: events committed after its predecessor's last tick
-- would otherwise wait for the listeners' safety poll.
SELECT pg_current_snapshot()::text AS snapshot, pg_notify('realtime_events', '') IS NULL AS woke;

-- name: waker_lock
-- Blocks until this session holds the waker lock (per database; released when it ends).
SELECT pg_advisory_lock(%(key)s);
