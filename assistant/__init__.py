"""Answers questions about your documents with cited, verified source sentences."""

__version__ = "0.1.0"
