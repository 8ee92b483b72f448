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
