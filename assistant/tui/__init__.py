"""The Textual terminal chat UI."""
