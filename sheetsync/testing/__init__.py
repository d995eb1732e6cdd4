"""Test doubles for sheetsync (used by tests, benchmarks and demos; never imported by product code)."""
