"""Helpers shared by Paracle's tests (loopback HTTP server, fixture loading)."""
