"""The one exception type for mistakes a user can make (bad input, bad config)."""

__all__ = ["InputError"]


class InputError(Exception):
    """A user-fixable problem: the message names the file or key and the fix.

    Scripts turn it into a one-line message and a non-zero exit instead of a
    traceback.
    """
