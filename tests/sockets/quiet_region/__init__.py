"""A live region that most events on its topic do not change, served by a real daphne process.

``settings`` adds this app to the project's, so the server imports its ``live.py`` as it does
the chat's.
"""
