"""Paracle's fronts: the Textual app and the `paracle` command line."""

__version__ = "0.1.0"
