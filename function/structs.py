"""Reading protobuf Structs without converting what the function never reads.

The SDK's struct_to_dict converts a whole object through JSON-format machinery;
for a large Cluster or ClusterClass that costs more than the decision itself.
``pluck`` converts only the paths a shape names, into the same plain dicts.
"""

from __future__ import annotations

from google.protobuf import struct_pb2

ALL = True  # shape leaf: convert this subtree whole


def value_to_py(v: struct_pb2.Value) -> object:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "struct_value":
        return struct_to_py(v.struct_value)
    if kind == "list_value":
        return [value_to_py(x) for x in v.list_value.values]
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) < 2**53 else n
    if kind == "bool_value":
        return v.bool_value
    return None


def struct_to_py(s: struct_pb2.Struct) -> dict:
    return {k: value_to_py(v) for k, v in s.fields.items()}


def pluck(s: struct_pb2.Struct, shape: dict) -> dict:
    """The parts of s that shape names, as plain Python.

    A shape maps a key to ALL (the whole subtree), to a nested shape (an object),
    or to a one-element list holding the shape of each item of a list.
    """
    out: dict = {}
    fields = s.fields
    for key, sub in shape.items():
        if key not in fields:
            continue
        v = fields[key]
        if sub is ALL:
            out[key] = value_to_py(v)
            continue
        kind = v.WhichOneof("kind")
        if isinstance(sub, dict) and kind == "struct_value":
            out[key] = pluck(v.struct_value, sub)
        elif isinstance(sub, list) and kind == "list_value":
            item_shape = sub[0]
            out[key] = [
                pluck(x.struct_value, item_shape) if x.WhichOneof("kind") == "struct_value" else value_to_py(x)
                for x in v.list_value.values
            ]
        else:
            # Not the type the shape expects: hand it over as is; the reader rejects it.
            out[key] = value_to_py(v)
    return out
