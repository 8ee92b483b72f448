"""What the function asks Crossplane to fetch, and what came back.

The function never calls the Kubernetes API. It names what it needs (pools,
the ClusterClass, bound IPAddresses) as required resources; Crossplane fetches
them and calls again, until the requirements stop changing.

Two generations of Crossplane answer differently:

- v2.2 and later advertise CAPABILITY_REQUIRED_RESOURCES, read
  ``requirements.resources`` and honour the selector's namespace.
- v1.15 to v2.1 read only ``requirements.extra_resources``; v1's selector has no
  namespace, and a by-name fetch of a namespaced kind fails the whole reconcile
  there. For those, a by-name selector becomes a label selector (every object of
  the kind, or a narrower label set where one is known) and the core filters by
  name and namespace itself. The core always filters, so both answers read alike.

Fetched objects arrive in ``required_resources`` (v2) or ``extra_resources``
(v1); newer Crossplane pre-fills ``required_resources`` on the first call. Both
are read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping


@dataclasses.dataclass(frozen=True)
class Selector:
    """A resource requirement: by name, or by labels (an empty map matches every object)."""

    api_version: str
    kind: str
    name: str | None = None
    labels: Mapping[str, str] | None = None
    namespace: str | None = None

    def for_legacy(self) -> Selector:
        """The form a pre-v2.2 Crossplane can serve: no by-name fetch of namespaced kinds."""
        if self.name is not None and self.namespace is not None:
            return dataclasses.replace(self, name=None, labels={})
        return self


class Fetched:
    """The required resources of one call, as plain dicts, by requirement name."""

    def __init__(self, resources: Mapping[str, Iterable[dict]] | None = None):
        self._resources = {name: [o for o in items if isinstance(o, dict)] for name, items in (resources or {}).items()}

    def resolved(self, name: str) -> bool:
        """Whether Crossplane has answered this requirement (possibly with nothing)."""
        return name in self._resources

    def names(self) -> list[str]:
        return list(self._resources)

    def items(self, name: str) -> list[dict]:
        return self._resources.get(name, [])

    def find(self, name: str, selector: Selector) -> dict | None:
        """The object a by-name selector asks for, filtered by name and namespace.

        Works for answers to both the by-name selector and its legacy label form.
        """
        for obj in self.items(name):
            meta = obj.get("metadata")
            if not isinstance(meta, dict) or meta.get("name") != selector.name:
                continue
            if selector.namespace is not None and meta.get("namespace") != selector.namespace:
                continue
            if obj.get("kind") not in (None, selector.kind):
                continue
            return obj
        return None
