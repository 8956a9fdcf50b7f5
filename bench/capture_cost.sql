-- Variants for `python -m bench.capture_cost` (bench only, never installed by a migration).
-- bench_inline_chatmessage: chat_chatmessage's table with one trigger whose body is the
-- generated "message created" body without pgtrigger's ignore check and without the nested
-- call to realtime_append_event_v2 (its INSERT written in place, NOTIFY off as the project's
-- writers run): what those two layers cost.
CREATE TABLE IF NOT EXISTS bench_inline_chatmessage (LIKE chat_chatmessage INCLUDING ALL);
-- The foreign keys too, as chat_chatmessage and the plain copy check them on every insert.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'bench_inline_room_fk') THEN
        ALTER TABLE bench_inline_chatmessage
            ADD CONSTRAINT bench_inline_room_fk FOREIGN KEY (room_id) REFERENCES chat_chatroom (id),
            ADD CONSTRAINT bench_inline_sender_fk FOREIGN KEY (sender_id) REFERENCES auth_user (id);
    END IF;
END;
$$;
CREATE OR REPLACE FUNCTION bench_inline_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO listener_event (topics, type, payload)
    VALUES (
        ARRAY['room_' || NEW.room_id::text],
        'chat_message_created',
        jsonb_build_object(
            'id', NEW.id::text,
            'room', NEW.room_id::text,
            'sender', jsonb_build_object(
                'id', NEW.sender_id::text,
                'username', (SELECT u.username FROM auth_user u WHERE u.id = NEW.sender_id)
            ),
            'posted', NEW.posted,
            'message', NEW.message
        )
    );
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS bench_inline_append ON bench_inline_chatmessage;
CREATE TRIGGER bench_inline_append AFTER INSERT ON bench_inline_chatmessage
    FOR EACH ROW EXECUTE FUNCTION bench_inline_append();
