"""The one exception type whose message is shown to the user as a single line."""


class UserError(Exception):
    """Something the user can fix; the commands print the message on one line and exits 1."""
