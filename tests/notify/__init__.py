"""Tests of portal.notify."""
