"""The suite's own exception: what the user asked for cannot be done as asked."""

__all__ = ["UsageError"]


class UsageError(ValueError):
    """A problem with what the user asked for (options, run folders); the command lines
    report it in one line and exit with status 2."""
