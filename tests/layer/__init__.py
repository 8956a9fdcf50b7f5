"""Tests of the layer wing."""
