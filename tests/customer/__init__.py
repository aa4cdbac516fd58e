"""Tests of portal.customer."""
