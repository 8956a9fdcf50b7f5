-- Count one attempt against each key, or none when a key has no room: the check and the insert
-- hold a lock per key, so concurrent requests cannot all pass the check before any is counted.
-- wait is the whole seconds until every key has room (NULL when the attempt was counted);
-- ids are the rows written, which a caller deletes to give the attempt back (a right password).
CREATE OR REPLACE FUNCTION chat_throttle_take_v1(
    keys text[], allowed integer[], windows interval[], OUT wait integer, OUT ids bigint[]
)
LANGUAGE plpgsql
AS $$
DECLARE
    started timestamptz;
    longest double precision := 0;
    counted bigint;
    oldest timestamptz;
BEGIN
    -- Sorted, so two takers of overlapping keys lock them in one order and never deadlock.
    PERFORM pg_advisory_xact_lock(hashtextextended(k, 0))
    FROM (SELECT DISTINCT k FROM unnest(keys) AS k ORDER BY k) AS sorted;
    -- The clock after the locks: a taker that waited sees every row its predecessor wrote.
    started := clock_timestamp();
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        SELECT count(*), min(recent.at) INTO counted, oldest
        FROM (
            SELECT a.at FROM throttle_attempt a
            WHERE a.key = keys[i] AND a.at > started - windows[i]
            ORDER BY a.at DESC
            LIMIT greatest(allowed[i], 0)
        ) AS recent;
        IF counted >= allowed[i] THEN
            -- Room for one more once the oldest of the last `allowed` attempts leaves the window.
            longest := greatest(
                longest, 1, extract(epoch FROM coalesce(oldest + windows[i], started) - started)
            );
        END IF;
    END LOOP;
    IF longest > 0 THEN
        wait := ceil(longest)::integer;
        ids := '{}';
        RETURN;
    END IF;
    WITH written AS (
        INSERT INTO throttle_attempt (key, at, until)
        SELECT u.k, started, started + u.w FROM unnest(keys, windows) AS u(k, w)
        RETURNING id
    )
    SELECT coalesce(array_agg(id), '{}') INTO ids FROM written;
    DELETE FROM throttle_attempt WHERE until <= started;
END;
$$;
