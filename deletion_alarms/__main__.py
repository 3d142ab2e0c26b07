"""``python -m deletion_alarms``: the same as the installed ``deletion-alarms`` command."""

from deletion_alarms.cli import entry_point

entry_point()
