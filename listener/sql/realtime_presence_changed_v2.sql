-- One statement changed presence rows (inserted: action 'join'; deleted: 'leave'); called by the
-- table's statement-level triggers with the transition table's rows in id order. Publishes per
-- topic one did_alter_presence event for the users whose first row across every server process
-- appeared, or whose last one went: `join` / `leave` with `user` when one user changed, else
-- `sync` with `joined` and `left` (in the rows' order), so a crowd costs each page a few frames.
--
-- As v1, a transaction-scoped advisory lock per (topic, user), taken in one order, serializes
-- the check: the second of two concurrent writers waits, then (READ COMMITTED: each statement
-- takes a new snapshot) sees the first one's committed row and stays silent for that user.
--
-- A transaction publishes at most one presence event per topic: when the transaction's latest
-- event on the topic is already a presence event (the leaves of a writer's batch, followed by
-- its joins), it is rewritten to hold both, a user who left and joined in it cancelling out, and
-- removed when nothing is left. Nobody has read it: it is not committed yet.
CREATE OR REPLACE FUNCTION realtime_presence_changed_v2(
    event_type text, action text, changed_ids bigint[], changed_topics text[], changed_users text[],
    changed_payloads jsonb[]
)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    change record;
    prior record;
    same jsonb;
    opposite jsonb;
    joined jsonb;
    gone jsonb;
    body jsonb;
BEGIN
    IF changed_ids IS NULL THEN
        RETURN;  -- the statement changed no row (the reaper's usual DELETE)
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('realtime_presence ' || k.topic || ' ' || k.user_id, 0))
    FROM (
        SELECT DISTINCT c.topic, c.user_id FROM unnest(changed_topics, changed_users) AS c(topic, user_id)
        ORDER BY c.topic, c.user_id
    ) k;
    FOR change IN
        WITH keyed AS (
            SELECT DISTINCT ON (c.topic, c.user_id) c.topic, c.user_id, c.payload, c.n
            FROM unnest(changed_topics, changed_users, changed_payloads) WITH ORDINALITY
                AS c(topic, user_id, payload, n)
            ORDER BY c.topic, c.user_id, c.n
        )
        SELECT k.topic, (array_agg(k.payload ORDER BY k.n))[1] - 'user' AS key,
               jsonb_agg(k.payload -> 'user' ORDER BY k.n) AS users
        FROM keyed k
        WHERE NOT EXISTS (
            -- Rows of other statements or processes (an AFTER trigger sees the statement's own).
            SELECT 1 FROM listener_presence p
            WHERE p.topic = k.topic AND p.user_id = k.user_id AND p.id <> ALL (changed_ids)
        )
        GROUP BY k.topic
        ORDER BY k.topic
    LOOP
        same := change.users;
        opposite := '[]';
        SELECT e.id, e.type, e.payload INTO prior
        FROM listener_event e
        WHERE e.topics[1] = change.topic AND e.xid = pg_current_xact_id()
        ORDER BY e.id DESC
        LIMIT 1;
        IF prior.type = event_type THEN
            -- The earlier change of this transaction, as lists of users in this call's direction.
            joined := CASE prior.payload ->> 'action'
                WHEN 'join' THEN jsonb_build_array(prior.payload -> 'user')
                WHEN 'sync' THEN prior.payload -> 'joined'
                ELSE '[]' END;
            gone := CASE prior.payload ->> 'action'
                WHEN 'leave' THEN jsonb_build_array(prior.payload -> 'user')
                WHEN 'sync' THEN prior.payload -> 'left'
                ELSE '[]' END;
            IF action = 'join' THEN
                same := joined;
                opposite := gone;
            ELSE
                same := gone;
                opposite := joined;
            END IF;
            -- A user who moved the other way earlier in this transaction cancels out.
            same := same || (
                SELECT coalesce(jsonb_agg(x.u ORDER BY x.n), '[]')
                FROM jsonb_array_elements(change.users) WITH ORDINALITY AS x(u, n)
                WHERE NOT opposite @> jsonb_build_array(jsonb_build_object('id', x.u -> 'id'))
            );
            opposite := (
                SELECT coalesce(jsonb_agg(x.u ORDER BY x.n), '[]')
                FROM jsonb_array_elements(opposite) WITH ORDINALITY AS x(u, n)
                WHERE NOT change.users @> jsonb_build_array(jsonb_build_object('id', x.u -> 'id'))
            );
        END IF;
        IF action = 'join' THEN
            joined := same;
            gone := opposite;
        ELSE
            joined := opposite;
            gone := same;
        END IF;
        body := CASE jsonb_array_length(joined) + jsonb_array_length(gone)
            WHEN 0 THEN NULL
            WHEN 1 THEN change.key || jsonb_build_object(
                'action', CASE WHEN jsonb_array_length(joined) = 1 THEN 'join' ELSE 'leave' END,
                'user', coalesce(joined -> 0, gone -> 0))
            ELSE change.key || jsonb_build_object('action', 'sync', 'joined', joined, 'left', gone)
        END;
        IF prior.type = event_type AND body IS NULL THEN
            DELETE FROM listener_event WHERE id = prior.id;
        ELSIF prior.type = event_type THEN
            UPDATE listener_event SET payload = body WHERE id = prior.id;
        ELSIF body IS NOT NULL THEN
            PERFORM realtime_append_event_v2(ARRAY[change.topic], event_type, body);
        END IF;
    END LOOP;
END;
$$;
