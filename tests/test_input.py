"""The Input: optional, every name and number changeable, mistakes named by field."""

import pytest

from function import input as inputs
from tests.fixtures import STORE, bound
from tests.harness import CP_CLAIM, cluster_class, ip_address, observed_claim, pool, run, xr

HEAD = {"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input"}


def test_no_input_and_an_empty_input_behave_alike():
    assert run(xr(), {}, STORE).desired == run(xr(), {}, STORE, inp=HEAD).desired


def test_defaults_are_the_operators_contract():
    d = inputs.DEFAULT
    assert (d.labels.cluster_class, d.labels.role) == ("vip.capi.gorizond.io/cluster-class", "vip.capi.gorizond.io/role")
    assert (d.annotations.ingress_enabled, d.annotations.ingress_vip) == (
        "vip.capi.gorizond.io/ingress-enabled", "vip.capi.gorizond.io/ingress-vip")
    assert (d.roles.control_plane.claim_name, d.roles.ingress.claim_name) == ("vip-cp-{cluster}", "vip-ingress-{cluster}")
    assert (d.roles.control_plane.variable, d.roles.ingress.variable) == ("clusterVip", "ingressVip")
    assert (d.cluster.default_port, d.ttl.waiting, d.ttl.converged) == (6443, "15s", "20m")


def test_the_plain_default_is_exactly_the_models_defaults():
    import json

    def plain(value):
        if isinstance(value, inputs.Defaults):
            return {k: plain(v) for k, v in vars(value).items()}
        return [plain(v) for v in value] if isinstance(value, list) else value

    # json (sorted keys) tells True from 1 and a missing field from a None one.
    assert json.dumps(plain(inputs.DEFAULT), sort_keys=True) == json.dumps(inputs.Input().model_dump(), sort_keys=True)
    assert inputs.load({**HEAD}) == inputs.Input()


def test_the_default_is_read_only():
    with pytest.raises(AttributeError):
        inputs.DEFAULT.ttl.waiting = "1s"
    with pytest.raises(AttributeError):
        del inputs.DEFAULT.usage


def test_a_call_without_an_input_loads_no_pydantic_model():
    """Cold start: the model is loaded only for a step that carries an Input (see function/input.py)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "import function.main\n"
        "from tests.harness import run, xr\n"
        "from tests.fixtures import STORE\n"
        "assert run(xr(), {}, STORE).desired\n"
        "assert 'function.input_model' not in sys.modules, 'loaded without an Input'\n"
        "run(xr(), {}, STORE, inp={'apiVersion': 'vip.fn.crossplane.io/v1beta1', 'kind': 'Input'})\n"
        "assert 'function.input_model' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_label_keys_and_variable_names_come_from_the_input():
    inp = {**HEAD, "labels": {"clusterClass": "ipam.example.org/class", "role": "ipam.example.org/role"},
           "roles": {"controlPlane": {"labelValue": "apiserver", "variable": "apiVip", "claimName": "api-{cluster}"}}}
    custom = pool("p", labels={"ipam.example.org/class": "cc", "ipam.example.org/role": "apiserver"}, free=3)
    observed = {CP_CLAIM: observed_claim("api-c1", pool_name="p")}
    out = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), observed,
              [cluster_class(variables=("apiVip",)), custom, ip_address("api-c1", "10.0.0.10", pool_name="p")], inp=inp)
    assert out.cluster["spec"]["topology"]["variables"] == [{"name": "apiVip", "value": "10.0.0.10"}]
    fresh = run(xr(annotations={"vip.capi.gorizond.io/ingress-enabled": "false"}), {}, [cluster_class(), custom], inp=inp)
    assert fresh.desired[CP_CLAIM]["metadata"] == {"name": "api-c1", "namespace": "team-a", "labels": {"ipam.example.org/role": "apiserver"}}


def test_pool_kinds_come_from_the_input():
    inp = {**HEAD, "ipam": {"poolKinds": [{"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool", "namespaced": True}]}}
    out = run(xr(), {}, STORE, inp=inp)
    assert CP_CLAIM not in out.desired
    assert {sel.kind for name, sel in out.requirements.items() if name.startswith("pools/")} == {"InClusterIPPool"}


def test_the_default_port_comes_from_the_input():
    observed, store = bound()
    out = run(xr(), observed, [*STORE, *store], inp={**HEAD, "cluster": {"defaultPort": 443}})
    assert out.cluster["spec"]["controlPlaneEndpoint"]["port"] == 443


def test_the_xr_paths_come_from_the_input():
    observed, store = bound()
    obj = xr()
    obj["spec"] = {"parameters": {"clusterSpec": obj["spec"]["cluster"]}}
    out = run(obj, observed, [*STORE, *store],
              inp={**HEAD, "xr": {"clusterSpecPath": "spec.parameters.clusterSpec", "statusPath": "status.endpoints"}})
    assert out.cluster["spec"]["controlPlaneEndpoint"]["host"] == "10.0.0.10"
    from tests.harness import to_dict

    assert to_dict(out.rsp.desired.composite.resource)["status"]["endpoints"]["controlPlane"] == "10.0.0.10"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**HEAD, "roles": {"ingress": {"labelValue": "ingress", "variable": "ingressVip", "claimName": "vip-ingress"}}},
         "roles.ingress.claimName: Value error, 'vip-ingress' must contain {cluster}"),
        ({**HEAD, "labels": {"role": "not a key"}}, "labels.role: Value error, 'not a key' is not a valid Kubernetes label or annotation key"),
        ({**HEAD, "cluster": {"apiVersion": "cluster.x-k8s.io/v1"}}, "cluster.apiVersion: Input should be"),
        ({**HEAD, "cluster": {"defaultPort": 0}}, "cluster.defaultPort: Input should be greater than or equal to 1"),
        ({**HEAD, "kind": "Inputs"}, "kind: Input should be 'Input'"),
        ({**HEAD, "roles": {"ingress": {"labelValue": "control-plane", "variable": "x", "claimName": "x-{cluster}"}}},
         "roles.controlPlane.labelValue and roles.ingress.labelValue must differ"),
        ({**HEAD, "annotations": {"releaseAddress": "vip.capi.gorizond.io/dual-stack"}},
         "annotations.dualStack and annotations.releaseAddress are both 'vip.capi.gorizond.io/dual-stack'"),
    ],
)
def test_a_bad_input_names_the_field(raw, message):
    with pytest.raises(inputs.InputError) as e:
        inputs.load(raw)
    assert message in str(e.value)


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15), ("10m", 600), ("1h30m", 5400), ("250ms", 0.25)])
def test_durations_are_read_as_go_durations(text, seconds):
    assert inputs.parse_duration(text).total_seconds() == seconds


def _generator():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "package" / "input" / "generate.py"
    spec = importlib.util.spec_from_file_location("generate_input_crd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_input_crd_is_what_the_model_generates():
    gen = _generator()
    assert gen.CRD_PATH.read_text() == gen.render(), "stale Input CRD: run python package/input/generate.py"


def test_the_committed_input_reference_is_what_the_model_generates():
    gen = _generator()
    assert gen.REFERENCE_PATH.read_text() == gen.reference(), "stale docs/input.md: run python package/input/generate.py"


def test_the_example_compositions_input_is_accepted_by_the_function():
    # Its validation against the Input CRD is the real CLI's (tests/test_validate.py).
    from pathlib import Path

    import yaml

    comp = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "composition.yaml").read_text())
    for step in comp["spec"]["pipeline"]:
        inputs.load(step["input"])
