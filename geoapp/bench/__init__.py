"""Benchmarks: scripts that print figures (run with ``python -m geoapp bench ...``), never timed tests."""
