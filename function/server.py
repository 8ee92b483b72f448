"""The gRPC server: RunFunction (v1 and v1beta1), reflection, health, and a graceful stop.

It does what the SDK's runtime.serve does, plus what an operations team needs:

- the standard health service (grpc.health.v1): SERVING once the function can
  answer, NOT_SERVING from the moment shutdown begins;
- on SIGTERM (or SIGINT): health goes NOT_SERVING first, the server keeps answering
  for a short drain period (so probes and Crossplane's connection move away), then
  stops accepting calls and lets those in flight finish within the grace period.
  An open health Watch stream counts as in flight, so with one the stop takes the
  whole grace period.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import grpc
from crossplane.function import logging
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.proto.v1beta1 import run_function_pb2 as fnv1beta1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from crossplane.function.runtime import BetaFunctionRunner
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

RUNNER_SERVICES = (
    fnv1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name,
    fnv1beta1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name,
)


async def _serve(  # noqa: PLR0913
    runner: grpcv1.FunctionRunnerServiceServicer,
    address: str,
    creds: grpc.ServerCredentials | None,
    options: Sequence[tuple[str, Any]],
    drain: float,
    grace: float,
    stopping: asyncio.Event | None = None,
) -> None:
    """Serve until stopping is set (by default: on SIGTERM or SIGINT)."""
    log = logging.get_logger()
    if stopping is None:  # before anything else, so an early SIGTERM is a clean stop too
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    # No SO_REUSEPORT: a second instance on the same port is refused, not served beside the first one.
    server = grpc.aio.server(options=(*options, ("grpc.so_reuseport", 0)))
    grpcv1.add_FunctionRunnerServiceServicer_to_server(runner, server)
    grpcv1beta1.add_FunctionRunnerServiceServicer_to_server(BetaFunctionRunner(wrapped=runner), server)
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    reflection.enable_server_reflection((*RUNNER_SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    try:
        port = server.add_secure_port(address, creds) if creds is not None else server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if not port:
        msg = f"cannot listen for gRPC on {address!r} (in use, or not an address): pass --address (or ADDRESS) with a free host:port"
        raise SystemExit(msg)
    await server.start()
    for service in ("", *RUNNER_SERVICES):
        await checks.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", address=address, tls=creds is not None)

    await stopping.wait()
    log.info("shutting down", drain_seconds=drain, grace_seconds=grace)
    await checks.enter_graceful_shutdown()
    await asyncio.sleep(drain)
    await server.stop(grace)
    log.info("stopped")


def serve(
    runner: grpcv1.FunctionRunnerServiceServicer,
    address: str,
    *,
    creds: grpc.ServerCredentials | None,
    insecure: bool,
    options: Sequence[tuple[str, Any]] = (),
    drain: float = 2.0,
    grace: float = 10.0,
) -> None:
    """Serve until SIGTERM or SIGINT. With insecure, credentials are ignored (as the SDK does)."""
    if creds is None and not insecure:
        msg = "no credentials were provided: pass --tls-certs-dir (or TLS_SERVER_CERTS_DIR), or --insecure"
        raise SystemExit(msg)
    asyncio.run(_serve(runner, address, None if insecure else creds, options, drain, grace))
