"""How every command reports a user's mistake: one line on stderr, exit status 2 (as click does
for bad flags), no traceback."""

from __future__ import annotations

import click


class UserError(click.ClickException):
    exit_code = 2
