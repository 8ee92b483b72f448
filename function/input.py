"""The function's Input: every name and number a platform team may need to change.

The Input is optional. With none, the defaults below are the contract that the
capi-vip-allocator operator established, so pools labelled for the operator
work unchanged. Unknown fields are rejected rather than ignored: a typo in a
label key would otherwise silently select no pool at all.

The pydantic model that validates an Input is in input_model.py; this module loads
it on first use (``inputs.Input``, or ``load`` of a step that has an Input), because
importing pydantic's validators and building the model takes ~40 ms, most of what
the function's start costs beyond the SDK's, and a call without an Input needs only
the defaults. DEFAULT holds them as plain read-only objects with the model's
attribute names (tests/test_input.py checks that it equals the model's defaults).
"""

from __future__ import annotations

import functools
import re
import types
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from function.input_model import Input

API_VERSION = "vip.fn.crossplane.io/v1beta1"
KIND = "Input"

# A Go-style duration as Crossplane and Kubernetes users write it: 15s, 10m, 1h30m.
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_MAX_TTL_SECONDS = 24 * 3600
MAX_SERVICE_LB = 32  # service load-balancer addresses per cluster: a claim (and a Usage) each, applied on every reconcile


@functools.lru_cache(maxsize=64)
def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration (``15s``, ``10m``, ``1h30m``)."""
    if not _DURATION.match(text):
        msg = f"{text!r} is not a duration; write it like 15s, 10m or 1h30m"
        raise ValueError(msg)
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    if seconds > _MAX_TTL_SECONDS:
        msg = f"{text!r} is longer than 24h; Crossplane re-runs an XR at least that often anyway"
        raise ValueError(msg)
    return timedelta(seconds=seconds)


class Defaults(types.SimpleNamespace):
    """Default values under the model's attribute names; read-only, and hashable as a frozen model is."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"the default Input is read-only: cannot set {name}"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> None:
        msg = f"the default Input is read-only: cannot delete {name}"
        raise AttributeError(msg)

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))


# The Input a step without one gets: the values of input_model.Input(), which a test keeps equal.
DEFAULT = Defaults(
    api_version=API_VERSION,
    kind=KIND,
    metadata=None,
    cluster=Defaults(
        api_version="cluster.x-k8s.io/v1beta1",
        default_port=6443,
        cluster_class_api_version="cluster.x-k8s.io/v1beta1",
    ),
    labels=Defaults(
        cluster_class="vip.capi.gorizond.io/cluster-class",
        role="vip.capi.gorizond.io/role",
    ),
    annotations=Defaults(
        ingress_enabled="vip.capi.gorizond.io/ingress-enabled",
        ingress_vip="vip.capi.gorizond.io/ingress-vip",
        service_lb_count="vip.capi.gorizond.io/service-lb-count",
        dual_stack="vip.capi.gorizond.io/dual-stack",
        release_address="vip.capi.gorizond.io/release-address",
        kept_variables="vip.capi.gorizond.io/kept-variables",
    ),
    roles=Defaults(
        control_plane=Defaults(label_value="control-plane", variable="clusterVip", claim_name="vip-cp-{cluster}",
                               secondary_variable=None, secondary_claim_name=None),
        ingress=Defaults(label_value="ingress", variable="ingressVip", claim_name="vip-ingress-{cluster}",
                         secondary_variable=None, secondary_claim_name=None),
        service_lb=Defaults(label_value="service-lb", variable="serviceLbVips", claim_name="vip-lb-{cluster}-{index}",
                            default_count=3),
    ),
    ipam=Defaults(
        claim_api_version="ipam.cluster.x-k8s.io/v1beta1",
        address_api_version="ipam.cluster.x-k8s.io/v1beta1",
        pool_kinds=[
            Defaults(api_version="ipam.cluster.x-k8s.io/v1alpha2", kind="InClusterIPPool", namespaced=True),
            Defaults(api_version="ipam.cluster.x-k8s.io/v1alpha2", kind="GlobalInClusterIPPool", namespaced=False),
        ],
    ),
    xr=Defaults(cluster_spec_path="spec.cluster", status_path="status.vip"),
    ttl=Defaults(waiting="15s", converged="20m"),
    manual_vips=Defaults(check_pools=False),
    dns=None,
    dual_stack=Defaults(primary_family="IPv4"),
    usage="Auto",
)


def load(raw: dict | None) -> Input:
    """Validate a raw Input; raises InputError with every problem named by field."""
    if not raw:
        return DEFAULT  # type: ignore[return-value] - the model's attributes, without the model
    import pydantic

    from function.input_model import Input

    try:
        return Input.model_validate(raw)
    except pydantic.ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(input)'}: {err['msg']}" for err in e.errors()
        )
        raise InputError(problems) from None


class InputError(ValueError):
    """The Input cannot be used."""


_MODEL_NAMES = frozenset({"Input", "Role", "PoolKind", "Labels", "Annotations", "Roles", "Cluster", "Ipam", "Xr", "Ttl", "ManualVips", "Dns", "ServiceLb", "DualStack"})


def __getattr__(name: str) -> object:
    """The model's classes (inputs.Input, inputs.Role, ...), loaded on first use."""
    if name in _MODEL_NAMES:
        from function import input_model

        return getattr(input_model, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
