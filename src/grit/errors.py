"""Errors the user can fix themselves (bad data, a missing file, an unknown model), reported as one line.

Only :class:`GritUserError` and its subclasses are; any other exception is a bug in grit and the CLI shows its
traceback. Subclasses that replace a ``ValueError`` keep that base too, so ``except ValueError`` still works.
"""

from __future__ import annotations


class GritUserError(Exception):
    """A problem with the user's input; the CLI prints the message and exits with status 1."""


class InvalidValue(GritUserError, ValueError):
    """A value the user chose (an option, a name, a setting) that grit cannot use; the message says which."""
