"""click callbacks that turn option text into values, shared by the commands: bad text is a usage
error (one line, exit 2), never a traceback."""

from __future__ import annotations

import click

from sam_bench.errors import BadInput


def eps_option(value):
    """click callback: '8/255' -> '8/255', '0.031' -> '0.031'; bad text -> usage error."""
    if value is None:
        return None
    from sam_bench.eps import format_eps, parse_eps

    try:
        return format_eps(parse_eps(value))
    except BadInput as err:
        raise click.BadParameter(str(err)) from None


def arch_kwargs_option(ctx, param, value):
    """click callback: --arch-kwargs text -> dict (sam_bench.models.parse_kwargs); bad text -> usage error."""
    from sam_bench.models import parse_kwargs

    try:
        return parse_kwargs(value)
    except BadInput as err:
        raise click.BadParameter(str(err)) from None
