-- Autovacuum for the event log and its topic index, which `prune_events` empties from the
-- oldest end in batches. The default scale factor (0.2) waits for a fifth of the table to be
-- dead: on a log of 10M events, 2M deleted rows whose space concurrent writes cannot reuse, so
-- the files grow during every prune. A fixed threshold vacuums during the prune instead, and
-- the freed pages take the new events (the command also runs VACUUM when it is done).
ALTER TABLE listener_event SET (
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 50000,
    autovacuum_vacuum_insert_scale_factor = 0.05
);
ALTER TABLE listener_event_topic SET (
    autovacuum_vacuum_scale_factor = 0.0,
    autovacuum_vacuum_threshold = 50000,
    autovacuum_vacuum_insert_scale_factor = 0.05
);
