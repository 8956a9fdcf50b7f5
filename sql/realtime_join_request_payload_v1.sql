-- The page-facing payload of a join request event: the room it is for and, on create, who asks.
CREATE OR REPLACE FUNCTION realtime_join_request_payload_v1(request_id bigint, action text)
RETURNS jsonb
LANGUAGE sql
STABLE
AS $$
    SELECT jsonb_build_object(
        'id', r.id::text,
        'action', action,
        'status', r.status,
        'user', r.user_id::text,
        'room', jsonb_build_object('id', room.id::text, 'title', room.title),
        'requesting_user', CASE WHEN action = 'create' THEN jsonb_build_object(
            'id', u.id::text, 'username', u.username,
            'first_name', u.first_name, 'last_name', u.last_name
        ) END
    )
    FROM chat_chatroomjoinrequest r
    JOIN chat_chatroom room ON room.id = r.room_id
    JOIN auth_user u ON u.id = r.user_id
    WHERE r.id = request_id
$$;
