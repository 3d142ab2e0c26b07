"""The exception types whose message is shown to the user as a single line."""


class UserError(Exception):
    """Something the user can fix; the command prints the message on one line and exits 1."""


class UsageError(UserError):
    """The command line, or a value in it, is wrong (malformed, out of range, missing, refused by
    the template): the command prints the message on one line and exits 2, as argparse does."""
