"""Reading and writing protobuf Structs without converting what the function never reads.

The SDK's struct_to_dict converts a whole object through JSON-format machinery;
for a large Cluster or ClusterClass that costs more than the decision itself.

- ``pluck`` converts only the paths a shape names, into plain dicts.
- A shape may mark a subtree OPAQUE: it stays a protobuf ``Value``, a token the
  decision passes through untouched (the parts of the user's Cluster spec it never
  reads), and ``write`` copies it back in C.
- ``plain`` turns a token into Python where the decision does need to read one.
"""

from __future__ import annotations

from google.protobuf import struct_pb2

ALL = True  # shape leaf: convert this subtree whole
OPAQUE = "opaque"  # shape leaf: keep this subtree as a protobuf Value
OTHERS = "*"  # shape key: what to do with every key the shape does not name
NAMES = {"name": ALL}  # list item shape: only each item's name (read without the generic walk)


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


def plain(v: object) -> object:
    """Python for a value that may be, or hold, OPAQUE tokens."""
    if isinstance(v, struct_pb2.Value):
        return value_to_py(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def _leaf(v: struct_pb2.Value, sub: object) -> object:
    if sub is ALL:
        return value_to_py(v)
    if sub == OPAQUE:
        return v  # a reference into the request, which nothing modifies; copied only when written
    kind = v.WhichOneof("kind")
    if isinstance(sub, dict) and kind == "struct_value":
        return pluck(v.struct_value, sub)
    if isinstance(sub, list) and kind == "list_value":
        item_shape = sub[0]
        if item_shape is NAMES:
            return [_name(x) for x in v.list_value.values]
        return [_leaf(x, item_shape) for x in v.list_value.values]
    # Not the type the shape expects: hand it over as is; the reader rejects it.
    return value_to_py(v)


def _name(x: struct_pb2.Value) -> object:
    if x.WhichOneof("kind") != "struct_value":
        return value_to_py(x)
    fields = x.struct_value.fields
    return {"name": value_to_py(fields["name"])} if "name" in fields else {}


def pluck(s: struct_pb2.Struct, shape: dict) -> dict:
    """The parts of s that shape names, as plain Python (OPAQUE parts as tokens).

    A shape maps a key to ALL (the whole subtree), OPAQUE (a token), a nested shape
    (an object), or a one-element list holding the shape of each item of a list; the
    key OTHERS gives the treatment of every key not named.
    """
    out: dict = {}
    fields = s.fields
    others = shape.get(OTHERS)
    if others is None:
        for key, sub in shape.items():
            if key in fields:
                out[key] = _leaf(fields[key], sub)
        return out
    for key, v in fields.items():
        out[key] = _leaf(v, shape.get(key, others))
    return out


def write(s: struct_pb2.Struct, d: dict) -> None:
    """Fill s from d: plain Python, with OPAQUE tokens copied as they are."""
    fields = s.fields
    for key, value in d.items():
        _set(fields[key], value)


def _set(v: struct_pb2.Value, value: object) -> None:
    if isinstance(value, str):
        v.string_value = value
    elif isinstance(value, dict):
        v.struct_value.SetInParent()
        write(v.struct_value, value)
    elif isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, (int, float)):
        v.number_value = value
    elif isinstance(value, list):
        values = v.list_value.values
        v.list_value.SetInParent()
        for item in value:
            _set(values.add(), item)
    elif isinstance(value, struct_pb2.Value):
        v.CopyFrom(value)
    elif value is None:
        v.null_value = struct_pb2.NULL_VALUE
    else:
        msg = f"cannot write {type(value).__name__} into a protobuf Struct"
        raise TypeError(msg)
