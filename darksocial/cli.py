"""The ``darksocial`` command. Each subcommand is thin: the work lives in the core modules."""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="darksocial")
def cli():
    """darksocial: dark social analytics that you run yourself."""


if __name__ == "__main__":
    cli()
