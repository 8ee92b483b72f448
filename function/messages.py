"""What the function says about an address's life, in one place: the text of conditions and results.

Pure functions over plain values (labels already formatted, such as ``IPAddressClaim ns/name`` or
``GlobalInClusterIPPool name``), each returning the message, or the reason and the message where the
reason depends on the case. The decision (decide.py) chooses which one applies; the words are here.

A claim's ordinary life says one message per state: each change of an XR's conditions is written to
the XR twice by Crossplane (and again while its cache lags), and each write is a watch event its
circuit breaker counts. So a claim made and a claim observed unbound say the same; a claim bound says
the same before and after its Cluster is composed.
"""

from __future__ import annotations

from collections.abc import Iterable

from function.conditions import Reason


# --- a claim's ordinary life -------------------------------------------------------------------


def waiting(claim_label: str, pool_label: str) -> str:
    return f"{claim_label} waits for {pool_label} to allocate an address"


def unlisted(claim_label: str, value: str, pool_label: str) -> str:
    return (f"{claim_label} is bound to {value}; it goes onto the Cluster once the Cluster can take it and "
            f"{pool_label}'s IPAddresses show no other claim holds it")


def bound(role_label: str, vip: str, claim_label: str) -> str:
    return f"{role_label} VIP {vip} from {claim_label}"


def on_cluster(role_label: str, vip: str, cluster_label: str) -> str:
    return f"{role_label} VIP {vip} on {cluster_label}"


# --- a live VIP its claim does not explain (the VIP stays) -------------------------------------


def live_mismatch(cluster_label: str, role_label: str, live: str, claim_label: str, address: str, pool_label: str,
                  setting: str, xr_name: str) -> str:
    return (f"{cluster_label} uses {role_label} VIP {live}, but {claim_label} is bound to {address} (the Cluster was "
            f"changed by hand, or the claim made again after a hand deletion). The VIP of a live cluster never changes, "
            f"so {live} stays: reserve it in {pool_label} (spec.excludedAddresses) so IPAM gives it to no other "
            f"cluster. To keep {live} for good, set {setting}={live} on XR {xr_name}: {claim_label} is then "
            f"released and {address} returns to the pool; until then the claim holds {address}.")


def live_secondary_mismatch(cluster_label: str, variable: str, live: str, claim_label: str, address: str,
                            pool_label: str, pair_switch: str) -> str:
    return (f"{cluster_label} carries {variable}={live}, but {claim_label} is bound to {address} (the "
            f"Cluster was changed by hand, or the claim made again after a hand deletion). The VIPs of a live cluster "
            f"never change, so {live} stays: reserve it in {pool_label} (spec.excludedAddresses) so IPAM "
            f"gives it to no other cluster; the claim holds {address} until the XR turns the pair off "
            f"({pair_switch}=\"false\").")


def foreign_api_group(api_group: str, served: str) -> str:
    return (f"; its spec.poolRef.apiGroup is {api_group!r}, but the in-cluster IPAM provider "
            f"only serves {served!r}: delete the claim so it is recreated")


# --- no pool, or a pool that cannot serve a claim made on it ----------------------------------------


def no_pool(
    class_name: str, role_label: str, *, candidates: Iterable[tuple[str, object, object]], family: str | None,
    class_label: str, role_label_key: str, kinds: str,
) -> tuple[Reason, str]:
    """No pool to make a claim from: every candidate (label, free, total) exhausted, or none labelled."""
    listed = [f"{label} (free {free}, total {total})" for label, free, total in candidates]
    of = f"{family} " if family else ""
    if listed:
        return Reason.POOL_EXHAUSTED, (
            f"every {of}pool for ClusterClass {class_name} and role {role_label} is exhausted: {', '.join(listed)}. "
            "Add addresses to one of them, or label another pool for this class and role."
        )
    if family:
        return Reason.POOL_NOT_FOUND, (
            f"no {family} pool for ClusterClass {class_name} and role {role_label} (the ClusterClass asks for "
            f"a VIP of each address family; a pool's family is read from its spec.addresses): label a pool of {family} "
            f"addresses with {class_label}={class_name} and {role_label_key}={role_label}"
        )
    return Reason.POOL_NOT_FOUND, (
        f"no pool for ClusterClass {class_name} and role {role_label}: label a pool ({kinds}) with "
        f"{class_label}={class_name} and {role_label_key}={role_label} "
        f"(or {class_label}=\"true\" and an annotation {class_label} listing {class_name})"
    )


def pool_deleting(claim_label: str, pool_label: str) -> str:
    return (f"{claim_label} waits on {pool_label}, which is being deleted; the provider allocates "
            "nothing from it. Delete the claim or restore the pool")


def pool_gone(claim_label: str, pool_label: str) -> str:
    return (f"{claim_label} waits on {pool_label}, which does not exist (deleted?). Recreate the pool, "
            f"or delete the claim so a new one is made from another pool")


def pool_full(claim_label: str, pool_label: str) -> str:
    return f"{claim_label} waits on {pool_label}, which has no free address; add addresses to it"


def moved(claim_label: str, pool_label: str, target_label: str, why: str) -> str:
    return f"{claim_label} is moved from {pool_label} to {target_label}: {why}"


def given_twice(claim_label: str, value: str, other_label: str, pool_label: str, released: bool = True) -> str:
    then = ("it is made again and the provider allocates another address" if released
            else "it stays claimed while the XR names the address itself (the Conflict warning says where)")
    return (f"{claim_label} is bound to {value}, which {other_label} of {pool_label} holds too: the provider gave one "
            f"address twice (its cache lagging after an API server outage, say). No Cluster gets {value} from this "
            f"claim; {then}")


# --- a claim being deleted, or gone from under a live Cluster -------------------------------------


def deleting_under_manual(claim_label: str, cluster_label: str, live: str) -> str:
    return f"{claim_label} is being deleted; {cluster_label} keeps {live} until a new claim is bound"


def deleting_under_live(claim_label: str, what: str, live: str, cluster_label: str, pool_label: str) -> str:
    return (f"{claim_label}, which reserves the {what} {live} of {cluster_label}, is being deleted. {live} stays "
            f"on the Cluster, but once IPAM frees it another cluster may receive it: reserve it in "
            f"{pool_label} (spec.excludedAddresses). A new claim is made once the old one is gone.")


def deleting(claim_label: str) -> str:
    return f"{claim_label} is being deleted; a new claim is made once it is gone"


def claim_missing(cluster_label: str, what: str, live: str, claim_label: str, pool_label: str) -> str:
    return (f"{cluster_label} uses {what} {live}, but no IPAddressClaim reserves it (deleted by hand?). "
            f"{claim_label} is made again from {pool_label}; if IPAM binds it to another "
            f"address, {live} is free in the pool and may be given to another cluster: reserve it there "
            "(spec.excludedAddresses).")


# --- a manual VIP checked against the XR's other claims and the pools (manualVips.checkPools) -------


def manual_shared(what: str, vip: str, xr_name: str, field: str, claim_label: str, held_for: str) -> str:
    """``held_for``: "the control-plane VIP", "a service load-balancer address"."""
    return (f"the manual {what} {vip} of XR {xr_name} ({field}) is the address {claim_label} holds for {held_for}: "
            f"two roles cannot share one address. Set another address in {field}")


def manual_in_pool(what: str, vip: str, xr_name: str, field: str, inside: list[str]) -> str:
    return (f"the manual {what} {vip} of XR {xr_name} ({field}) is an address IPAM may give to another cluster: "
            f"{'; '.join(inside)} can hand it out. Add the line `- {vip}` to spec.excludedAddresses of "
            f"{'each of these pools' if len(inside) > 1 else 'that pool'} (if the pool refuses it, the address is already "
            f"allocated to another claim: choose another), or set an address outside the pools in {field}")


def manual_unreadable(what: str, vip: str, xr_name: str, unreadable: list[str]) -> str:
    return (f"the manual {what} {vip} of XR {xr_name} cannot be checked against {'; '.join(unreadable)}. "
            "manualVips.checkPools reads in-cluster pools (ipam.cluster.x-k8s.io/v1alpha2 spec.addresses, "
            "spec.excludedAddresses, spec.prefix, spec.gateway): fix the pool, or turn the check off")


def manual_waiting_for_pools(role_label: str, vip: str) -> str:
    return f"waiting for Crossplane to fetch the pools, to check the manual {role_label} VIP {vip} against them"


# --- the ClusterClass ---------------------------------------------------------------------------------


def class_unread(label: str, problem: str | None, resolved: bool, *, not_found: str = "", waiting: str = "") -> tuple[Reason, str]:
    """Why a ClusterClass is not read: unreadable (``problem``), not found (Crossplane fetched nothing), or
    not fetched yet; ``not_found`` and ``waiting`` say what it holds back."""
    if problem:
        return Reason.INVALID_CLUSTER_CLASS, problem
    if resolved:
        return Reason.CLUSTER_CLASS_NOT_FOUND, f"{label} not found{not_found}"
    return Reason.WAITING_FOR_CLUSTER_CLASS, f"waiting for Crossplane to fetch {label}{waiting}"


def no_variable(class_label: str, variable: str) -> str:
    return f"{class_label} defines no variable {variable}"


# --- a bound claim whose address is not read, and a claim let go ------------------------------------


def address_unread(claim_label: str, address_label: str, resolved: bool) -> str:
    """``resolved``: Crossplane fetched the IPAddress and found none."""
    if resolved:
        return f"{claim_label} is bound to {address_label}, which does not exist (yet)"
    return f"{claim_label} is bound to {address_label}, which Crossplane has not fetched"


def released(role_key: str, claim_label: str, why: str) -> str:
    return f"{role_key} VIP of {claim_label} released: {why}"


def releasing(role_key: str, claim_label: str, step: str, why: str) -> str:
    """``step``: what this reconcile does of it ("adopting it first", "detaching its Usage", ...)."""
    return f"releasing the {role_key} VIP of {claim_label} ({step}): {why}"


def releasing_once_off(where: str, address: str) -> str:
    """The step of a release that waits for the live Cluster to be applied without the claim's address (ledger.carried)."""
    return (f"once {where} no longer carries {address}: until the API server's Cluster drops it, the claim keeps the "
            f"address reserved (CAPI may not have taken the Cluster's update yet; a field another field manager owns "
            f"stays until you remove it by hand)")


def own_secondary_endpoint_unset(xr_name: str, variable: str, cluster_label: str, live: str, where: str) -> str:
    """The XR no longer writes the control plane's secondary endpoint it set itself: the live one stays."""
    return (f"XR {xr_name} no longer sets {variable}, but {cluster_label} serves on the secondary endpoint {live} "
            f"the XR set, which never changes for a live cluster. Set {variable}={live} again in {where}.")


def kept_named(claim_label: str, address: str, where: str, why: str) -> str:
    """A release refused because something else of the XR names the claim's address (ledger.py)."""
    return (f"{claim_label} stays claimed although {why}: its address {address} is also {where}, and a released "
            f"address may go to another cluster. Change that, and the claim is released")


def kept_for_lost_variable(claim_label: str, address: str, cluster_label: str, endpoint: str, class_label: str,
                           variable: str, class_found: bool, xr_label: str, release_key: str) -> str:
    """The control plane's claim, kept while the ClusterClass does not pass its variable on (see primaries.py)."""
    head = f"{claim_label} ({address}) stays claimed although {cluster_label} serves on {endpoint}, the XR's own endpoint"
    if not class_found:
        return f"{head}: {class_label} cannot be read, and {address} may be its {variable}; it is decided once the class is read"
    return (f"{head}: {class_label} defines no variable {variable}, where {address} may have been carried, and a ClusterClass that "
            f"loses a variable releases nothing, since the control-plane machines' kube-vip may still hold {address}. "
            f"Once none does, annotate {xr_label} {release_key}={address}: the claim is then released, and not made again, "
            "the endpoint being the XR's own")


# --- service load-balancer addresses (roles.serviceLb) ------------------------------------------------


def lb_mismatch(cluster_label: str, live: str, claim_label: str, bound: str, pool_label: str) -> str:
    """A live Cluster lists a service-lb address its claim no longer holds (the IPAddress made anew, say)."""
    return (f"{cluster_label} lists service load-balancer address {live}, but {claim_label} is bound to {bound} (its "
            f"IPAddress was made anew). An address a live cluster uses "
            f"never changes, so {live} stays in the list: reserve it in {pool_label} (spec.excludedAddresses) so IPAM "
            f"gives it to no other cluster; until then the claim holds {bound}.")


def lb_allocated(count: int, where: str, listed: list[str]) -> str:
    """``where``: what asks for ``count`` (the XR's annotation, or the Composition's default)."""
    return f"{count} service load-balancer addresses ({where}): {', '.join(listed) or 'none'}"


def lb_binding(bound: int, count: int, where: str) -> str:
    return f"{bound} of {count} service load-balancer addresses bound ({where}); the Cluster's list grows as IPAM binds the rest"


def lb_off(count_annotation: str) -> str:
    return f"no service load-balancer addresses: XR annotated {count_annotation}=\"0\""
