"""Tests of portal.web."""
