"""Paracle's engine: workspaces, providers, resilience, workflows and history, with no UI."""

__version__ = "0.1.0"
