"""Tests of the log wing."""
