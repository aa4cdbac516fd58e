"""Tests of portal.channels."""
