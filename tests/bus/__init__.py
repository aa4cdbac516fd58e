"""Tests of portal.bus."""
