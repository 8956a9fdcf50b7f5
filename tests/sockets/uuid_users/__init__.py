"""A project whose AUTH_USER_MODEL has a UUID primary key, listed after ``listener``; its tests
(``check_uuid_users.py``) run in a pytest process of their own (``tests/sockets/test_uuid_users.py``)."""
