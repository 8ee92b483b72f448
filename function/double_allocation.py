"""An address the provider handed out twice never goes onto a Cluster.

The in-cluster IPAM provider picks a free address from its informer cache. After an API server outage
that cache can lag the API server: the provider waits 5 s for each IPAddress it creates to show up in it,
and when that times out it goes on to the next claim. The next claim can then get the same address. The
fault suite hit this (tests/e2e/test_recovery.py, kube-apiserver stopped for 30 s: two new XRs' claims
bound to one address in 3 runs of 5). Composing both Clusters with that address would give two clusters
one VIP.

So an address goes onto a Cluster for the first time only after the IPAddresses of its claim's pool have
been listed and no other IPAddress holds it:

- ``CLEAR``: no other IPAddress of the pool holds the address, or a position of the live Cluster already
  carries it. A live endpoint never moves, so the check is only made before a first placement, and a
  converged XR's call asks for no list.
- ``UNLISTED``: the list has not come back yet, or it does not show the claim's own IPAddress yet. The claim
  is held as it is. (Crossplane serves the list and the claim's IPAddress from one informer cache, which
  applies events in the API server's order. A list that shows the claim's own IPAddress therefore shows every
  IPAddress created before it that still exists.)
- otherwise, the label of another IPAddress holding the same address (``IPAddress ns/name``): the claim
  lets its address go (it is released and made again, and the provider allocates anew). If both claims of
  a pair reach this point before either Cluster carries the address, both let go and both allocate again.
  No ordering by age is needed. (A creation timestamp is only accurate to one second, and which claim is
  older says nothing about which Cluster serves the address.) If a Cluster carries the address already, its
  claim keeps it, and the other claim, which sees it, lets go.

For an InClusterIPPool, its claims and addresses are in its own namespace, so that namespace is listed. A
GlobalInClusterIPPool's claims may be in any namespace, so every namespace is listed. The list is asked for
only while a bound address waits to be placed, and, before the XR's Cluster exists, only once the Cluster could
be composed with it (every other address it needs bound, its ClusterClass read: decide._without_unwanted_lists):
Crossplane watches every IPAddress of a list asked for on the XR's behalf, and their events cost the XR's watch
circuit breaker. Until then the address is held, placed nowhere. It costs one list of IPAddresses per XR being
created, never one per converged reconcile.
"""

from __future__ import annotations

from collections.abc import Callable

from function import addresses, claims
from function.requirements import Fetched, Selector

CLEAR = "clear"
UNLISTED = "unlisted"
# How a decision reads the lists: as fetched; in decide._without_unwanted_lists's trials, every list taken as clear or as not listed yet.
FETCHED, TAKEN_CLEAR, TAKEN_UNLISTED = "fetched", "taken clear", "taken unlisted"
REQUIREMENT = "ipaddresses"  # and "ipaddresses/<namespace>"


def requirement(namespace: str | None) -> str:
    return f"{REQUIREMENT}/{namespace}" if namespace is not None else REQUIREMENT


def is_list(requirement_name: str) -> bool:
    return requirement_name == REQUIREMENT or requirement_name.startswith(REQUIREMENT + "/")


def held_elsewhere(inp, fetched: Fetched, require: Callable[[str, Selector], None], claim: claims.Claim, value: str,
                   carried: bool) -> str:
    """CLEAR, UNLISTED, or the IPAddress (label) other than the claim's that holds ``value`` in the claim's pool
    (module docstring). ``carried``: a position of the live Cluster already carries ``value``."""
    if carried:
        return CLEAR
    kind = next((k for k in inp.ipam.pool_kinds if k.kind == claim.pool_ref.kind), None)
    namespace = claim.namespace if kind is not None and kind.namespaced else None  # a kind not known: every namespace
    name = requirement(namespace)
    require(name, Selector(api_version=inp.ipam.address_api_version, kind="IPAddress", labels={}, namespace=namespace))
    if not fetched.resolved(name):
        return UNLISTED
    own = False
    other = None
    for obj in fetched.items(name):
        meta, spec = obj.get("metadata"), obj.get("spec")
        if not isinstance(meta, dict) or not isinstance(spec, dict) or addresses.parse_ip(spec.get("address")) != value:
            continue
        ref = spec.get("poolRef") if isinstance(spec.get("poolRef"), dict) else {}
        if (ref.get("kind"), ref.get("name")) != (claim.pool_ref.kind, claim.pool_ref.name):
            continue  # another pool's: an overlapping range is the platform's choice (one network per tenant, say)
        where = (meta.get("namespace"), meta.get("name"))
        if namespace is not None and where[0] != namespace:
            continue  # a pre-v2.2 Crossplane lists every namespace
        if where == (claim.namespace, claim.address_name):
            own = True
        elif other is None or f"{where[0]}/{where[1]}" < other:
            other = f"{where[0]}/{where[1]}"
    if not own:
        return UNLISTED
    return CLEAR if other is None else f"IPAddress {other}"
