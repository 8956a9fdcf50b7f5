-- The elected waker's loop, run inside Postgres by one CALL that never returns: every
-- `quiet_interval` seconds (`busy_interval` after a wake-up) it looks for an event that became
-- visible since its last look and, if there is one, sends one NOTIFY and commits (which is when
-- Postgres delivers it). Why a procedure: the same loop driven from Python cost the elected
-- server process about 9% of a core while idle on a 2-core machine; here each tick costs only
-- the two index probes below.
-- Why v2: v1 raised a NOTICE per wake-up, a write to its client. A client that stops reading
-- (SIGSTOP, a stalled event loop, a lost network) then blocked the loop in ClientWrite while its
-- session kept the waker lock, and every listener fell back to its safety poll. This loop sends
-- its client nothing, so it goes on waking the others whatever its client does; a client that is
-- gone ends the session through the connection's own checks (client_connection_check_interval,
-- TCP keepalives: listener/connection.py), which releases the lock to a standby.
-- Visibility, not max(id): ids are taken at insert and commits land in another order. An event
-- unseen by `seen` has an xid at or above its xmax or in its in-progress list; both are index
-- probes on (xid, id) bounded by what started or ended since the last look, never by the log's
-- size or an old open transaction. Each look is one statement: one snapshot for the test and
-- for `seen`. Each COMMIT ends the tick's transaction, so the session holds no snapshot across
-- ticks and never holds back vacuum by more than one pause.
CREATE OR REPLACE PROCEDURE realtime_waker_v2(seen text, quiet_interval float8, busy_interval float8)
LANGUAGE plpgsql
AS $$
DECLARE
    last pg_snapshot := seen::pg_snapshot;
    found boolean;
BEGIN
    LOOP
        SELECT pg_current_snapshot(),
            EXISTS (
                SELECT 1 FROM listener_event e
                WHERE e.xid >= pg_snapshot_xmax(last)
                    AND e.xid < pg_snapshot_xmax(pg_current_snapshot())
                    AND pg_visible_in_snapshot(e.xid, pg_current_snapshot())
            ) OR EXISTS (
                -- Transactions in progress at the last look that have ended since: did they log?
                SELECT 1 FROM pg_snapshot_xip(last) AS ended(xid)
                WHERE pg_visible_in_snapshot(ended.xid, pg_current_snapshot())
                    AND EXISTS (SELECT 1 FROM listener_event e WHERE e.xid = ended.xid)
            )
        INTO last, found;
        IF found THEN
            -- The listeners count these by sender (the waker's backend pid): no notice needed.
            PERFORM pg_notify('realtime_events', '');
        END IF;
        COMMIT;
        PERFORM pg_sleep(CASE WHEN found THEN busy_interval ELSE quiet_interval END);
    END LOOP;
END;
$$;
