"""Tests of the capture wing."""
