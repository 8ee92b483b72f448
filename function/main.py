"""The function's command line: the SDK's standard flags, plus metrics and shutdown timing."""

import click
from crossplane.function import cli as sdkcli
from crossplane.function import logging, runtime

from function import fn, metrics, server


@click.command()
@click.version_option(package_name="function-capi-vip", prog_name="function-capi-vip")
@sdkcli.standard_options
@click.option(
    "--metrics-address",
    default=":8080",
    show_default=True,
    envvar="METRICS_ADDRESS",
    help="Address of the Prometheus /metrics endpoint; empty turns it off.",
)
@click.option(
    "--shutdown-drain-seconds",
    type=float,
    default=2.0,
    show_default=True,
    envvar="SHUTDOWN_DRAIN_SECONDS",
    help="On SIGTERM, how long to keep answering after health turns NOT_SERVING.",
)
@click.option(
    "--shutdown-grace-seconds",
    type=float,
    default=10.0,
    show_default=True,
    envvar="SHUTDOWN_GRACE_SECONDS",
    help="Then, how long calls in flight may take to finish.",
)
def cli(  # noqa: PLR0913 - one parameter per flag
    debug: bool,
    address: str,
    tls_certs_dir: str | None,
    insecure: bool,
    max_recv_message_size: int,
    max_send_message_size: int | None,
    metrics_address: str,
    shutdown_drain_seconds: float,
    shutdown_grace_seconds: float,
) -> None:
    """Serve function-capi-vip (apiextensions.fn.proto.v1 and v1beta1 RunFunction)."""
    logging.configure(logging.Level.DEBUG if debug else logging.Level.INFO)
    send = max_send_message_size or max_recv_message_size
    options = [
        ("grpc.max_receive_message_length", max_recv_message_size * 1024 * 1024),
        ("grpc.max_send_message_length", send * 1024 * 1024),
    ]
    metrics.serve(metrics_address)
    server.serve(
        fn.FunctionRunner(),
        address,
        creds=runtime.load_credentials(tls_certs_dir) if tls_certs_dir else None,
        insecure=insecure,
        options=options,
        drain=shutdown_drain_seconds,
        grace=shutdown_grace_seconds,
    )


# A call that places a new address carries its pool's IPAddresses (double_allocation.py), for a GlobalInClusterIPPool
# every namespace's: about 1.4 kB each as Crossplane sends them (managedFields included), so the SDK's 4 MB would refuse
# the call once a pool has about 2,800. 64 MB holds about 45,000 (docs/performance.md).
MAX_RECV_MESSAGE_MB = 64

# Every flag's environment variable in --help (the SDK's flags too: TLS_SERVER_CERTS_DIR, ADDRESS, ...).
for _param in cli.params:
    if isinstance(_param, click.Option) and _param.envvar:
        _param.show_envvar = True
    if _param.name == "max_recv_message_size":
        _param.default = MAX_RECV_MESSAGE_MB


if __name__ == "__main__":
    cli()
