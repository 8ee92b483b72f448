"""What the function tells a platform engineer: XR conditions and results (events).

- Each role's condition (ControlPlaneVIPReady, IngressVIPReady) is set on every
  response, True with reason Allocated, Manual or Disabled, or False with the
  reason something is missing.
- A Normal result marks a transition (a VIP first assigned, a VIP released).
- A Warning result repeats on every reconcile while a problem lasts, and says
  what to fix.
- A converged reconcile emits no result at all, so a fleet of thousands of
  clusters does not flood the event stream.
"""

from __future__ import annotations

import dataclasses
import enum

CONTROL_PLANE_READY = "ControlPlaneVIPReady"
INGRESS_READY = "IngressVIPReady"
SERVICE_LB_READY = "ServiceLBVIPsReady"
CONTROL_PLANE_SECONDARY_READY = "ControlPlaneSecondaryVIPReady"  # dual stack: the other family's VIP
INGRESS_SECONDARY_READY = "IngressSecondaryVIPReady"


class Reason(str, enum.Enum):
    ALLOCATED = "Allocated"
    MANUAL = "Manual"
    DISABLED = "Disabled"
    WAITING_FOR_ADDRESS = "WaitingForAddress"
    WAITING_FOR_CLUSTER_CLASS = "WaitingForClusterClass"
    WAITING_FOR_CLUSTER = "WaitingForCluster"
    POOL_NOT_FOUND = "PoolNotFound"
    POOL_EXHAUSTED = "PoolExhausted"
    CLUSTER_CLASS_NOT_FOUND = "ClusterClassNotFound"
    CLUSTER_CLASS_MISSING_VARIABLE = "ClusterClassMissingVariable"
    INVALID_CLUSTER_CLASS = "InvalidClusterClass"
    INVALID_ADDRESS = "InvalidAddress"
    ADDRESS_MISMATCH = "AddressMismatch"
    CLAIM_MISSING = "ClaimMissing"
    CONFLICT = "Conflict"
    RELEASED = "Released"
    ASSIGNED = "Assigned"
    ADOPTED = "Adopted"
    MANUAL_VIP_IN_POOL = "ManualVIPInPool"
    INVALID_POOL = "InvalidPool"
    INVALID_DNS_NAME = "InvalidDNSName"
    DNS_NAME_MISMATCH = "DNSNameMismatch"
    FAMILY_MISMATCH = "AddressFamilyMismatch"


@dataclasses.dataclass(frozen=True)
class Contract:
    """What a condition type may say: where it is set, and its reasons when True and when False."""

    type: str
    where: str
    true: tuple[Reason, ...]
    false: tuple[Reason, ...]

    def allows(self, status: bool, reason: str) -> bool:
        return reason in {r.value for r in (self.true if status else self.false)}


_R = Reason
_ADDRESS_FALSE = (_R.WAITING_FOR_ADDRESS, _R.POOL_NOT_FOUND, _R.POOL_EXHAUSTED, _R.INVALID_ADDRESS, _R.CLUSTER_CLASS_NOT_FOUND,
                  _R.INVALID_CLUSTER_CLASS, _R.WAITING_FOR_CLUSTER_CLASS, _R.CLUSTER_CLASS_MISSING_VARIABLE)
_MANUAL_FALSE = (_R.MANUAL_VIP_IN_POOL, _R.INVALID_POOL, _R.CONFLICT)  # a manual VIP refused (manualVips.checkPools)
# The conditions the function sets on the XR (and its claim), one row each: docs/how-it-works.md's table is
# generated from it (tools/docs.py), and the tests check that every condition a response carries keeps to it.
CONTRACTS = (
    Contract(CONTROL_PLANE_READY, "every XR", (_R.ALLOCATED, _R.MANUAL),
             (*_ADDRESS_FALSE, _R.WAITING_FOR_CLUSTER, *_MANUAL_FALSE)),
    Contract(INGRESS_READY, "every XR", (_R.ALLOCATED, _R.MANUAL, _R.DISABLED), (*_ADDRESS_FALSE, *_MANUAL_FALSE)),
    Contract(CONTROL_PLANE_SECONDARY_READY, "with a dual-stack pair", (_R.ALLOCATED, _R.MANUAL, _R.DISABLED),
             (*_ADDRESS_FALSE, *_MANUAL_FALSE, _R.FAMILY_MISMATCH)),
    Contract(INGRESS_SECONDARY_READY, "with a dual-stack pair", (_R.ALLOCATED, _R.MANUAL, _R.DISABLED),
             (*_ADDRESS_FALSE, *_MANUAL_FALSE, _R.FAMILY_MISMATCH)),
    Contract(SERVICE_LB_READY, "where the ClusterClass defines the service-lb variable (`serviceLbVips`)",
             (_R.ALLOCATED, _R.MANUAL, _R.DISABLED), _ADDRESS_FALSE),
)


def contract(condition_type: str) -> Contract | None:
    return next((c for c in CONTRACTS if c.type == condition_type), None)


class Severity(str, enum.Enum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclasses.dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: Reason
    message: str


@dataclasses.dataclass(frozen=True)
class Result:
    severity: Severity
    reason: Reason
    message: str
    role: str = ""  # control-plane or ingress, where the result is about one


def warning(reason: Reason, message: str) -> Result:
    return Result(Severity.WARNING, reason, message)


def normal(reason: Reason, message: str, role: str = "") -> Result:
    return Result(Severity.NORMAL, reason, message, role)
