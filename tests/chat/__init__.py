"""Tests of the demo chat: its pages, topics, access rules and throttles."""
