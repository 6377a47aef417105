"""The one base class of errors that are the user's to fix.

A :class:`UserError` names what is wrong with what was asked (a bad path, a refused overwrite,
a seed overlap, a bad config, a missing topic) and how to fix it, in one line. Command-line
entry points print such an error as ``error: <message>`` and exit with status 2; any other
exception is a bug and keeps its traceback. It lives on the ground floor so that every layer,
the simulator's config included, can raise it.
"""

from __future__ import annotations


class UserError(Exception):
    """An error in the user's input or request; its message says what is wrong and the fix."""
