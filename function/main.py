"""The function's command line: the SDK's standard flags, serving RunFunction."""

import click
from crossplane.function import cli as sdkcli

from function import fn


@click.command()
@sdkcli.standard_options
def cli(**kwargs) -> None:
    """Serve function-capi-vip (apiextensions.fn.proto.v1 and v1beta1 RunFunction)."""
    sdkcli.run(fn.FunctionRunner(), **kwargs)


if __name__ == "__main__":
    cli()
