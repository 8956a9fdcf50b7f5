"""Tests of the ops wing."""
