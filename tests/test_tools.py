"""Two commands on a fresh machine: the README's test command installs what the tests need, pinned in one place."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import gobuild, peers

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DEVELOPING = (ROOT / "docs" / "developing.md").read_text()


def readme_test_command() -> str:
    block = README.split("Run the tests (what `.ci/run` runs)", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    (line,) = block.splitlines()
    return line


def test_ci_runs_the_readme_test_command_and_nothing_else():
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
             if ln and not ln.startswith("#") and ln not in ("set -euo pipefail", 'cd "$(dirname "$0")/.."')]
    assert lines == [readme_test_command()]


def test_the_readme_test_command_installs_the_tools_before_the_tests():
    steps = readme_test_command().split(" && ")
    assert steps.index(gobuild.INSTALL_COMMAND) == len(steps) - 2 and steps[-1] == ".venv/bin/pytest"


def test_the_developer_page_names_every_pinned_version():
    for c in gobuild.components().values():
        assert re.search(rf"\| `{re.escape(c.module)}`[^|]*\| {re.escape(c.version)} \|", DEVELOPING), (c.module, c.version)


def test_every_pin_names_an_exact_version_and_a_purpose():
    for c in gobuild.components().values():
        assert re.fullmatch(r"v\d+\.\d+\.\d+", c.version), c
        assert c.purpose and (c.crds or c.packages), c


def test_a_binary_not_built_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTION_CAPI_VIP_BIN_CACHE", str(tmp_path))
    with pytest.raises(gobuild.Missing, match=re.escape(gobuild.INSTALL_COMMAND)):
        gobuild.binary_of("crossplane-cli")


def test_a_module_not_downloaded_names_the_install_command():
    with pytest.raises(gobuild.Missing, match=re.escape(gobuild.INSTALL_COMMAND)):
        gobuild.module_dir("sigs.k8s.io/cluster-api", "v0.0.1-not-downloaded", download=False)


def test_binaries_are_cached_by_module_version_and_package(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTION_CAPI_VIP_BIN_CACHE", str(tmp_path))
    path = gobuild.binary_path("example.org/m/v2", "v2.1.0", "cmd/tool", "tool")
    assert path == tmp_path / "example.org/m/v2@v2.1.0" / "cmd/tool" / "tool"


def test_a_binary_built_from_another_recipe_is_not_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTION_CAPI_VIP_BIN_CACHE", str(tmp_path))
    path = gobuild.binary_path("example.org/m", "v1.0.0", "cmd/tool", "tool")
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    recipe = {"module": "example.org/m", "version": "v1.0.0", "package": "cmd/tool", "binary": "tool",
              "ldflags": ["-X=a.b=v1.0.0"], "require": {}, "replace": {}}
    path.with_name("tool.build.json").write_text(json.dumps(recipe))
    assert gobuild.cached("example.org/m", "v1.0.0", "cmd/tool", "tool", ["-X=a.b=v1.0.0"]) == path
    assert gobuild.cached("example.org/m", "v1.0.0", "cmd/tool", "tool", ["-X=a.b=other"]) is None


@pytest.mark.slow  # it needs every binary built, which the fast tier does not
def test_install_builds_nothing_when_the_cache_is_warm():
    for name, c in gobuild.components().items():  # warm, or fail now naming the install command
        for package in c.packages:
            gobuild.binary_of(name, package)
    for name in peers.pins() if peers.available() else ():
        peers.binary_of(name)
    p = subprocess.run([sys.executable, "-m", "tools.install"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "go build" not in p.stdout, p.stdout
    assert "debootstrap bookworm (minbase" not in p.stdout and "apt-get install" not in p.stdout, p.stdout
    assert all(f"{package} -> " in p.stdout for c in gobuild.components().values() for package in c.packages), p.stdout
    n = len(gobuild.components()) + 1 + (len(peers.pins()) if peers.available() else 0)  # and debian, and the peers
    if peers.available():
        assert all(f"[{i}/{n}] peer:{name}" in p.stdout for i, name in enumerate(peers.pins(), n - len(peers.pins()) + 1)), p.stdout
    else:
        assert "peers: not built: the peers' sources are not at" in p.stdout, p.stdout
    assert all(f"[{i}/{n}] " in p.stdout for i in range(1, n + 1)), p.stdout  # progress, component by component
    assert p.stdout.splitlines()[-1].startswith("tools installed in "), p.stdout


def test_the_sibling_modules_a_go_mod_replaces_with_its_own_folders_are_taken_at_their_tag():
    gomod = {"Replace": [
        {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "./staging/src/k8s.io/api"}},
        {"Old": {"Path": "go.etcd.io/etcd/api/v3"}, "New": {"Path": "../api"}},
        {"Old": {"Path": "example.org/fork"}, "New": {"Path": "example.org/other", "Version": "v1.2.3"}},
    ]}
    assert gobuild.local_replaces_of(gomod, "v0.35.4") == {"k8s.io/api": "k8s.io/api v0.35.4"}


def test_kubernetes_is_built_with_every_staging_module_of_its_go_mod_at_the_pinned_tag():
    c = gobuild.component("kubernetes")
    gomod = gobuild._go_mod(c.module, c.version)
    local = gobuild.local_replaces_of(gomod, c.local_replaces)
    staging = [r["Old"]["Path"] for r in gomod["Replace"] if r["New"]["Path"].startswith("./staging/src/")]
    assert sorted(local) == sorted(staging) and len(local) == 31
    assert gobuild.godebug_of(gomod) == ["default=go1.25"]


def test_a_wrapper_takes_the_godebug_defaults_of_the_module():
    assert gobuild.godebug_of({"GoDebug": [{"Key": "default", "Value": "go1.25"}]}) == ["default=go1.25"]
    assert gobuild.godebug_of({}) == []


def test_version_placeholders_in_linker_flags():
    assert gobuild.expand(["-X=a.v={version}", "-X=a.minor={minor}", "-X=a.major={major}", "-X=a.p={patch}"], "v1.35.4") == [
        "-X=a.v=v1.35.4", "-X=a.minor=35", "-X=a.major=1", "-X=a.p=4"]


def test_several_packages_of_one_module_are_binaries_named_after_them(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNCTION_CAPI_VIP_BIN_CACHE", str(tmp_path))
    c = gobuild.component("kubernetes")
    assert [c.binary_of_package(p) for p in c.packages] == ["kube-apiserver", "kube-controller-manager"]
    with pytest.raises(gobuild.Missing, match=re.escape(gobuild.INSTALL_COMMAND)):
        gobuild.binary_of("kubernetes", "cmd/kube-apiserver")
    with pytest.raises(ValueError):
        gobuild.binary_of("kubernetes")  # which one?


def test_a_module_root_package_is_cached_under_the_module():
    c = gobuild.component("etcd")
    assert c.packages == (".",) and c.binary_name == "etcd"
    assert gobuild.binary_path(c.module, c.version, ".", "etcd") == gobuild.cache_root() / f"{c.module}@{c.version}" / "etcd"


def test_without_the_peers_sources_install_says_they_are_not_built_and_builds_the_rest(tmp_path):
    env = {**os.environ, "FUNCTION_CAPI_VIP_PEERS": str(tmp_path / "none")}
    p = subprocess.run([sys.executable, "-m", "tools.install", "etcd"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-c", "from tools import peers; print(peers.available(), peers.not_collected_reason())"],
                       cwd=ROOT, capture_output=True, text=True, env=env)
    assert p.stdout.startswith(f"False the peers' sources are not at {tmp_path / 'none'}"), p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "tools.install", "peer:capi-vip-allocator"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env=env)
    assert p.returncode == 1 and "no go.mod in" in p.stderr and "were not collected" in p.stderr, p.stdout + p.stderr


def test_a_peer_is_rebuilt_when_its_source_changes(tmp_path, monkeypatch):
    src = tmp_path / "peers" / "capi-vip-allocator-v0.7.1"
    src.mkdir(parents=True)
    (src / "go.mod").write_text("module github.com/gorizond/capi-vip-allocator\n")
    (src / "main.go").write_text("package main\n")
    monkeypatch.setenv("FUNCTION_CAPI_VIP_PEERS", str(tmp_path / "peers"))
    monkeypatch.setenv("FUNCTION_CAPI_VIP_BIN_CACHE", str(tmp_path / "cache"))
    peer = peers.pins()["capi-vip-allocator"]
    path = peers.binary_path(peer)
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    path.with_name(peer.binary + ".build.json").write_text(json.dumps(peers._recipe(peer, peers.tree_digest(src))))
    assert peers.cached(peer) == path
    (src / "main.go").write_text("package main // changed\n")
    assert peers.cached(peer) is None
    with pytest.raises(gobuild.Missing, match="is not built"):
        peers.binary_of("capi-vip-allocator")
