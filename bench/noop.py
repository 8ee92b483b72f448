"""The floor: a function on the same SDK that does nothing (returns desired state unchanged).

    python bench/noop.py --insecure --address 127.0.0.1:9444
"""

import click
from crossplane.function import cli as sdkcli
from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1


class Noop(grpcv1.FunctionRunnerServiceServicer):
    async def RunFunction(self, req, _):  # noqa: N802
        return response.to(req)


@click.command()
@sdkcli.standard_options
def cli(**kwargs):
    sdkcli.run(Noop(), **kwargs)


if __name__ == "__main__":
    cli()
