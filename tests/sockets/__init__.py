"""Tests of the sockets wing."""
