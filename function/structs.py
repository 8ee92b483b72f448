"""Reading and writing protobuf Structs without converting what the function never reads.

The SDK's struct_to_dict converts a whole object through JSON-format machinery;
for a large Cluster or ClusterClass that costs more than the decision itself.

- ``pluck`` converts only the paths a shape names, into plain dicts.
- A shape may mark a subtree OPAQUE: it stays a protobuf ``Value``, a token the
  decision passes through untouched (the parts of the user's Cluster spec it never
  reads), and ``write`` copies it back in C.
- ``plain`` turns a token into Python where the decision does need to read one.
- An object whose shape names only ALL keys, the others OPAQUE (a topology
  variable: its name read, its value a token), is read whole: it becomes a
  read-only ``Record`` that ``write`` copies back from its Value in one C call.

Every protobuf wrapper touched costs (upb builds a Python object for it on first
access), so a shape is compiled once into one reader function per node kind, and
the walk touches each wrapper once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

ALL = True  # shape leaf: convert this subtree whole
OPAQUE = "opaque"  # shape leaf: keep this subtree as a protobuf Value
OTHERS = "*"  # shape key: what to do with every key the shape does not name
NAMES = {"name": ALL}  # list item shape: only each item's name


def value_to_py(v: struct_pb2.Value) -> object:
    # Asking a Value for a kind it does not hold gives that kind's empty default (and changes
    # nothing): a non-empty string, the common leaf, answers without WhichOneof.
    text = v.string_value
    if text:
        return text
    kind = v.WhichOneof("kind")
    if kind == "struct_value":
        fields = v.struct_value.fields
        return {k: value_to_py(fields[k]) for k in fields}
    if kind == "string_value":
        return text
    if kind == "list_value":
        return [value_to_py(x) for x in v.list_value.values]
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) < 2**53 else n
    if kind == "bool_value":
        return v.bool_value
    return None


_KINDS = ((bool, "a boolean"), (str, "a string"), (dict, "an object"), (list, "a list"), ((int, float), "a number"))


def describe(value: object) -> str:
    """What a value is, in the words of the YAML a user wrote: a string, an object, a list, ..."""
    if value is None:
        return "null"
    return next((name for kinds, name in _KINDS if isinstance(value, kinds)), f"a {type(value).__name__}")


def struct_to_py(s: struct_pb2.Struct) -> dict:
    fields = s.fields
    return {k: value_to_py(fields[k]) for k in fields}


def named_meta(obj: object) -> dict | None:
    """An object's metadata, when it has a string name and namespace; else None."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not isinstance(meta.get("namespace"), str):
        return None
    return meta


def plain(v: object) -> object:
    """Python for a value that may be, or hold, OPAQUE tokens."""
    if isinstance(v, struct_pb2.Value):
        return value_to_py(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


Reader = Callable[[struct_pb2.Value], object]


class Record(dict):
    """An object read whole from the request (see the module doc): read-only, so that what
    ``write`` copies from ``source`` is always what the dict says. Copy it (``dict(r)``) to change it."""

    __slots__ = ("source",)

    def _read_only(self, *_args: object, **_kwargs: object) -> None:
        msg = "a Record read from the request is read-only; change a copy (dict(record))"
        raise TypeError(msg)

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]


def _is_whole(shape: dict) -> bool:
    """Whether the shape reads every key of an object: the unnamed ones as tokens, the named ones whole."""
    return shape.get(OTHERS) == OPAQUE and all(sub is ALL for key, sub in shape.items() if key != OTHERS)


def _opaque(v: struct_pb2.Value) -> struct_pb2.Value:
    return v  # a reference into the request, which nothing modifies; copied only when written


def _compile(sub: object) -> Reader:
    """The reader of one Value under shape ``sub``; a Value not of the type the shape expects is
    handed over as is (the reader of the result rejects it)."""
    if sub is ALL:
        return value_to_py
    if sub == OPAQUE:
        return _opaque
    if isinstance(sub, dict) and _is_whole(sub):
        named = frozenset(key for key in sub if key != OTHERS)

        def read_record(v: struct_pb2.Value) -> object:
            fields = v.struct_value.fields
            if not fields and v.WhichOneof("kind") != "struct_value":
                return value_to_py(v)
            record = Record({key: value_to_py(fields[key]) if key in named else fields[key] for key in fields})
            record.source = v
            return record

        return read_record
    if isinstance(sub, dict):
        read_fields = _struct_reader(sub)

        def read_object(v: struct_pb2.Value) -> object:
            fields = v.struct_value.fields
            if fields or v.WhichOneof("kind") == "struct_value":
                return read_fields(fields)
            return value_to_py(v)

        return read_object
    if isinstance(sub, list):
        read_item = _compile(sub[0])

        def read_list(v: struct_pb2.Value) -> object:
            values = v.list_value.values
            if values or v.WhichOneof("kind") == "list_value":
                return [read_item(x) for x in values]
            return value_to_py(v)

        return read_list
    return value_to_py


Fields = Any  # the fields map of a Struct


def _struct_reader(shape: dict) -> Callable[[Fields], dict]:
    """The reader of the fields of a Struct under an object shape."""
    others = shape.get(OTHERS)
    if others is None and all(sub is ALL for sub in shape.values()):
        keys = tuple(shape)

        def read_leaves(fields: Fields) -> dict:
            return {key: (x := fields[key]).string_value or value_to_py(x) for key in keys if key in fields}

        return read_leaves
    if others is None:
        # Leaves are read inline (None: a token, ALL: whole), without a call each.
        named = tuple((key, None if sub == OPAQUE else ALL if sub is ALL else _compile(sub)) for key, sub in shape.items())

        def read_named(fields: Fields) -> dict:
            out = {}
            for key, read in named:
                if key in fields:
                    x = fields[key]
                    if read is None:
                        out[key] = x
                    elif read is ALL:
                        out[key] = x.string_value or value_to_py(x)
                    else:
                        out[key] = read(x)
            return out

        return read_named
    table = {key: _compile(sub) for key, sub in shape.items()}
    get = table.get
    default = _compile(others)

    def read_all(fields: Fields) -> dict:
        return {key: get(key, default)(fields[key]) for key in fields}

    return read_all


_readers: dict[int, tuple[dict, Callable[[Fields], dict]]] = {}


def pluck(s: struct_pb2.Struct, shape: dict) -> dict:
    """The parts of s that shape names, as plain Python (OPAQUE parts as tokens).

    A shape maps a key to ALL (the whole subtree), OPAQUE (a token), a nested shape
    (an object), or a one-element list holding the shape of each item of a list; the
    key OTHERS gives the treatment of every key not named. Shapes are constants:
    each is compiled on first use.
    """
    entry = _readers.get(id(shape))
    if entry is None or entry[0] is not shape:
        if len(_readers) > 256:  # shapes made on the fly: never grow without bound
            _readers.clear()
        entry = _readers[id(shape)] = (shape, _struct_reader(shape))  # holding shape keeps its id unique
    return entry[1](s.fields)


def write(s: struct_pb2.Struct, d: dict) -> None:
    """Fill s from d: plain Python, with OPAQUE tokens copied as they are."""
    _write_fields(s.fields, d)


def _write_fields(fields: Fields, d: dict) -> None:
    for key, value in d.items():
        if type(value) is str:  # the common leaf, without a call
            fields[key].string_value = value
        else:
            _set(fields[key], value)


def _set(v: struct_pb2.Value, value: object) -> None:
    t = type(value)
    if t is str:
        v.string_value = value
    elif t is dict:
        if value:
            _write_fields(v.struct_value.fields, value)  # writing a field sets the object
        else:
            v.struct_value.SetInParent()  # {} stays an object, never null
    elif t is struct_pb2.Value:
        v.CopyFrom(value)
    elif t is Record:
        v.CopyFrom(value.source)
    elif t is list:
        lv = v.list_value
        lv.SetInParent()
        add = lv.values.add
        for item in value:
            _set(add(), item)
    else:
        _set_other(v, value)


def _set_other(v: struct_pb2.Value, value: object) -> None:
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


def timestamp(value: object) -> float | None:
    """An RFC 3339 time as the API server writes it, in seconds since the epoch; None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
