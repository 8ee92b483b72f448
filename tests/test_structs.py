"""structs: what pluck reads and write writes back."""

import pytest
from google.protobuf import struct_pb2

from function import fn
from function.structs import ALL, OPAQUE, OTHERS, Record, pluck, write


def _struct(d: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d)
    return s


def test_a_cluster_spec_is_written_back_as_it_was_read():
    spec = {
        "controlPlaneEndpoint": {"host": "10.0.0.1", "port": 6443},
        "clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}},
        "topology": {
            "class": "cc",
            "version": "v1.31.0",
            "variables": [{"name": "a", "value": {"x": [1, 2.5, None, True]}}, {"name": "b", "value": "s"}, "odd"],
            "workers": {"machineDeployments": [{"class": "w", "name": "md0", "replicas": 3}]},
        },
    }
    read = pluck(_struct(spec), fn.CLUSTER_SPEC_SHAPE)
    out = struct_pb2.Struct()
    write(out, read)
    assert out == _struct(spec)
    assert [type(v) for v in read["topology"]["variables"]] == [Record, Record, str]
    assert read["topology"]["variables"][0]["name"] == "a"


def test_a_record_is_read_only():
    (record,) = pluck(_struct({"items": [{"name": "a", "value": 1}]}), {"items": [{OTHERS: OPAQUE, "name": ALL}]})["items"]
    with pytest.raises(TypeError):
        record["name"] = "b"
    with pytest.raises(TypeError):
        record.pop("name")
    changed = {**record, "name": "b"}
    out = struct_pb2.Struct()
    write(out, {"v": changed})
    assert out["v"]["name"] == "b"
