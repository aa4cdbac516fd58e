"""Tests of portal.staff."""
