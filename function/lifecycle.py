"""The life of one address's claim, once for every slot: what is done with the claim and its Usage.

Every address an XR holds (control plane, ingress, their dual-stack secondaries, each service-lb
address) is decided as a ``ClaimAction`` on its claim; ``compose`` then writes the claim and its
Usage for that action, the same way for every slot. The Usage protects the claim from deletion
while the Cluster uses its address (see usages.py); it follows the claim's action:

- ``NONE``: no claim (none wanted, or released at once: Crossplane deletes it). A Usage left of it goes.
- ``KEEP``: the claim as decided (new, or observed); its Usage by the Cluster once the claim is bound,
  the Cluster composed and Usages on. A Usage once made is kept whatever.
- ``HOLD``: the claim's address is not known, or its release waits for the live Cluster to stop carrying it,
  so nothing about it may change: the claim, and its Usage exactly as observed (attached, or detached mid-release).
- ``RELEASING``: released in steps behind its Usage: the Usage detached first, then removed, then the claim.
- ``WAIT_GONE``: the claim is being deleted (by hand, or released a moment ago) and is not composed; a new
  one of its name is made once it is gone. Its Usage stays as observed meanwhile.
"""

from __future__ import annotations

import dataclasses
import enum

from function import claims, usages


class ClaimAction(enum.Enum):
    NONE = "none"
    KEEP = "keep"
    HOLD = "hold"
    RELEASING = "releasing"
    WAIT_GONE = "wait-gone"


# The actions under which the claim is composed (in desired state).
COMPOSED = frozenset({ClaimAction.KEEP, ClaimAction.HOLD, ClaimAction.RELEASING})


@dataclasses.dataclass(frozen=True)
class Written:
    """What ``compose`` decides for one slot: the resources to compose (name -> (resource, ready)), and the
    observed ones it lets go."""

    composed: dict[str, tuple[dict, bool]]
    released: frozenset[str]


def compose(action: ClaimAction, claim: claims.Claim | None, claim_resource: dict | None, *, claim_name: str,
            usage_name: str, observed_usage: object, claim_api_version: str, cluster: dict | None,
            use_usages: bool) -> Written:
    """The claim and its Usage for ``action`` (see the module's docstring). ``claim_resource``: the claim as
    rendered for desired state (None when it is not composed)."""
    usage = usages.read_observed(observed_usage)
    composed: dict[str, tuple[dict, bool]] = {}
    released: set[str] = set()

    def keep_usage(by: dict | None) -> None:
        composed[usage_name] = (usages.render(claim, claim_api_version, by), usage.ready)

    if action not in COMPOSED:
        if usage is not None and action is ClaimAction.WAIT_GONE:
            keep_usage(cluster if usage.attached else None)  # the claim is made again under the same name
        elif usage is not None:
            released.add(usage_name)  # its claim is released or gone
        return Written(composed, frozenset(released))
    composed[claim_name] = (claim_resource, claim.bound)
    if action is ClaimAction.HOLD:
        if usage is not None:  # exactly as observed: attached, or detached mid-release
            keep_usage(cluster if usage.attached else None)
    elif action is ClaimAction.RELEASING:
        if usage is not None and usage.attached:
            keep_usage(None)
        else:
            released.add(usage_name)
    elif not use_usages or cluster is None or not claim.bound:
        # A Usage protects an address: none for a claim that holds none yet (it may still move).
        if usage is not None:
            keep_usage(cluster)  # a Usage once made stays: dropping it would leave the claim unprotected
    else:
        composed[usage_name] = (usages.render(claim, claim_api_version, cluster), usage is not None and usage.ready)
    return Written(composed, frozenset(released))
