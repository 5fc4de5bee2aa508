"""Errors the user can fix themselves (a missing file, an unknown model), reported as one line, not a traceback."""

from __future__ import annotations


class GritUserError(Exception):
    """A problem with the user's input; the CLI prints the message and exits with status 1."""
