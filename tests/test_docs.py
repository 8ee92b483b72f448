"""The README and docs/ as a user reads them: every link lands, and every YAML or shell block is one the tests run or
check, so a renamed field or file cannot leave a stale example behind.

A shell command is run by a test or is the same as one that is: the two commands (tests/test_tools.py, .ci/run), the
Install it block (tests/package.py runs the README's), a render command (tests/test_render.py runs each one a page
gives), `kubectl apply -f` of an example that exists, a bench command whose script takes each flag it is given.

A YAML document is a Kubernetes object or a piece of one, and is either a part of an example or of a render's golden
output (both run and validated: tests/test_render.py, tests/test_validate.py), an Input the Input model loads, an XR
the example XRD's schema accepts and the function answers without a Fatal, or the same as the README's Install it
block that tests/package.py applies.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from function import fn, input as function_input
from tests import cli
from tests.conftest import TIERS
from tests.harness import Outcome, fetch, request
from tests.sim import run_function

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang})"


def blocks(page: Path) -> list[Block]:
    out, lang, start, lines = [], None, 0, []
    for n, line in enumerate(page.read_text().splitlines(), 1):
        if line.startswith("```") and lang is None:
            lang, start, lines = line[3:].strip(), n, []
        elif line.startswith("```"):
            out.append(Block(page, start, lang, "\n".join(lines) + "\n"))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, f"{page.relative_to(ROOT)}:{start}: a code block is not closed"
    return out


ALL = [b for page in PAGES for b in blocks(page)]


def section(page: Path, heading: str) -> list[Block]:
    """The blocks under a "## heading" of a page."""
    text = page.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    first, last = text[:start].count("\n") + 1, text[:end].count("\n") + 1 if end > 0 else 1 << 30
    return [b for b in blocks(page) if first < b.line < last]


def commands(text: str) -> list[str]:
    """A shell block's commands: continuation lines joined, comments and blank lines dropped."""
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


# --- links --------------------------------------------------------------------------------------------------


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page."""
    out, fenced = set(), False
    for line in page.read_text().splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("#"):
            out.add(re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-"))
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_lands_on_a_file_and_heading_that_exist(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading {anchor!r} in {path.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_page_is_linked_from_the_readme():
    linked = set(re.findall(r"\]\(docs/([^)#\s]+)", README.read_text()))
    assert linked == {p.name for p in PAGES[1:]}


def test_every_page_starts_with_its_title_and_an_answer():
    for page in PAGES[1:]:
        lines = page.read_text().splitlines()
        title, blank, answer, *_ = lines[1:] if lines[0].startswith("<!--") else lines  # a generated page's note
        assert title.startswith("# ") and not blank and answer and not answer.startswith(("#", "```", "|")), (
            f"{page.name} starts {title!r}, {blank!r}, {answer!r}")


def test_every_block_names_its_language():
    assert [str(b) for b in ALL if not b.lang] == []


def test_the_tables_that_come_from_the_code_are_current():
    from tools import docs

    stale = [str(page.relative_to(ROOT)) for page in docs.PAGES if docs.render(page.read_text()) != page.read_text()]
    assert not stale, f"{stale}: run python -m tools.docs"
    assert all(docs.BLOCK.search(page.read_text()) for page in docs.PAGES)


# --- shell blocks ---------------------------------------------------------------------------------------------


def readme_block(heading: str, lang: str, index: int = 0) -> Block:
    return [b for b in section(README, heading) if b.lang == lang][index]


def fast_tier_command() -> str:
    """The README's test command with only the CRDs installed and the tiers that need more left out."""
    (test,) = commands(readme_block("Two commands", "sh", 1).text)
    tiers = " and ".join(f"not {tier}" for tier in TIERS)
    return test.replace("-m tools.install", "-m tools.install --crds").replace(
        "&& .venv/bin/pytest", f'&& .venv/bin/pytest -m "{tiers}"')


def ran_renders() -> list[list[str]]:
    """The render commands tests/test_render.py runs (each is read from the page that gives it)."""
    return [*cli.walkthrough_passes(), cli.service_lb_render(), cli.dual_stack_render(), cli.dns_render()]


def checked_command(command: str) -> str | None:
    """Why a command is known to work, or None."""
    two = commands(readme_block("Two commands", "sh", 0).text) + commands(readme_block("Two commands", "sh", 1).text)
    if command in two:
        return "one of the README's two commands (tests/test_tools.py, .ci/run)"
    if command == fast_tier_command():
        return "the README's test command, narrowed to the fast tier (tests/conftest.py's TIERS)"
    if command in commands(readme_block("Install it", "sh").text):
        return "the README's Install it block (tests/package.py runs it)"
    words = shlex.split(command)
    render, extensions, resources = cli.validate_walkthrough()
    if words in (["crossplane", "composition", "render", *render, ">", *resources],
                 ["crossplane", "resource", "validate", ",".join(extensions), *resources]):
        return "docs/render.md's validation of a render (tests/test_validate.py runs it)"
    if words[:3] == ["crossplane", "composition", "render"]:
        return "a render the tests run" if words[3:] in ran_renders() else None
    if words[:2] == ["kubectl", "apply"] and words[2::2] == ["-f"] * (len(words) // 2 - 1) and len(words) % 2 == 0:
        files = [ROOT / f for f in words[3::2]]
        return "examples that exist (tests/test_validate.py validates them)" if all(f.is_file() for f in files) else None
    if words[:1] == [".venv/bin/python"] and words[1].startswith("bench/"):
        script = ROOT / words[1]
        flags = [w.split("=", 1)[0] for w in words[2:] if w.startswith("--")]
        if script.is_file() and all(f'"{f}"' in script.read_text() for f in flags):
            return "a bench script that takes these flags"
    return None


SH = [b for b in ALL if b.lang == "sh"]


@pytest.mark.parametrize("block", SH, ids=str)
def test_every_shell_command_is_one_the_tests_run(block):
    unchecked = [c for c in commands(block.text) if checked_command(c) is None]
    assert not unchecked, f"{block}: no test runs {unchecked}"


def test_every_render_command_an_example_gives_in_a_comment_is_one_a_page_gives():
    given = [shlex.split(c) for b in SH for c in commands(b.text) if c.startswith("crossplane composition render")]
    comments = [shlex.split(m) for path in sorted((ROOT / "examples").rglob("*.yaml"))
                for m in re.findall(r"^#\s+crossplane composition render (.*)$", path.read_text(), flags=re.M)]
    assert comments and all(c in [g[3:] for g in given] for c in comments)


def test_the_pages_give_the_dual_stack_service_lb_and_dns_renders():
    assert cli.service_lb_render() and cli.dual_stack_render() and cli.dns_render()


# --- yaml blocks ---------------------------------------------------------------------------------------------


def documents_of(block: Block) -> list[tuple[str, dict]]:
    """(the document's leading comment, the document) for each document of a yaml block."""
    out = []
    for part in re.split(r"^---\n", block.text, flags=re.M):
        doc = yaml.safe_load(part)
        if doc is None:
            continue
        assert isinstance(doc, dict), f"{block}: a document that is not an object"
        comment = next((ln for ln in part.splitlines() if ln.strip()), "")
        out.append((comment if comment.startswith("#") else "", doc))
    return out


def part_of(piece, whole) -> bool:
    """piece is whole with some keys and list items left out (scalar lists are whole)."""
    if isinstance(piece, dict):
        return isinstance(whole, dict) and all(k in whole and part_of(v, whole[k]) for k, v in piece.items())
    if isinstance(piece, list):
        if not isinstance(whole, list):
            return False
        if all(not isinstance(v, (dict, list)) for v in piece):
            return piece == whole
        return all(any(part_of(v, w) for w in whole) for v in piece)
    return piece == whole or (isinstance(whole, str) and str(piece) == whole)


@functools.cache
def known_objects() -> list[dict]:
    """The objects of the examples and of the golden render outputs (a Helm template among the examples, which is no
    YAML before Helm renders it, has none)."""
    out = []
    for path in [*sorted((ROOT / "examples").rglob("*.yaml")), *sorted((ROOT / "tests" / "golden").glob("*.yaml"))]:
        try:
            out += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            assert "{{" in path.read_text(), f"{path} is not YAML"
    return out

EXAMPLE = ROOT / "examples"


def example_input() -> dict:
    (composition,) = yaml.safe_load_all((EXAMPLE / "composition.yaml").read_text())
    return composition["spec"]["pipeline"][0]["input"]


def xr_problems(xr: dict) -> list[str]:
    """What the example XRD's schema refuses in xr, and the function's Fatal for it with the examples' world."""
    (xrd,) = yaml.safe_load_all((EXAMPLE / "definition.yaml").read_text())
    schema = xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    out = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
           for e in jsonschema.Draft7Validator(schema).iter_errors({k: xr[k] for k in ("spec", "status") if k in xr})]
    world = [d for d in yaml.safe_load_all((EXAMPLE / "required-resources.yaml").read_text()) if d]
    composite = {k: v for k, v in xr.items() if k != "status"}
    rsp, _ = run_function(fn.run, request(composite, inp=example_input()),
                          lambda sel: fetch(world, sel, modern=True), modern=True, seeded=None, drop=frozenset())
    fatal = Outcome(rsp).fatal
    return out + ([f"Fatal: {fatal}"] if fatal else [])


def checked_document(block: Block, comment: str, doc: dict) -> str | None:
    """Why a document of a page is known to be right, or None."""
    if doc.get("kind") == "Input" or comment.startswith("# Input"):
        function_input.load({"apiVersion": "vip.fn.crossplane.io/v1beta1", "kind": "Input", **doc})
        return "an Input the model loads"
    if any(part_of(doc, known) for known in known_objects()):
        return "a part of an example or of a golden render"
    if doc.get("kind") == "WorkloadCluster" and "apiVersion" in doc:
        return None if xr_problems(doc) else "an XR the XRD accepts and the function answers"
    install = section(README, "Install it")
    if any(doc in [d for _, d in documents_of(b)] for b in install if b.lang == "yaml"):
        return "the same as the README's Install it (tests/package.py applies it)"
    return None


YAML = [b for b in ALL if b.lang == "yaml"]


@pytest.mark.parametrize("block", YAML, ids=str)
def test_every_yaml_document_is_an_example_a_golden_output_an_input_or_an_xr_that_works(block):
    unchecked = [(doc, xr_problems(doc) if doc.get("kind") == "WorkloadCluster" else "no example, golden output or "
                  "Input has it") for comment, doc in documents_of(block) if checked_document(block, comment, doc) is None]
    assert not unchecked, f"{block}: {unchecked}"


def test_a_renamed_field_is_caught():
    block = readme_block("A Composition and an XR", "yaml", 1)
    _, xr = documents_of(block)[0]
    xr["spec"]["cluster"]["topology"]["clas"] = xr["spec"]["cluster"]["topology"].pop("class")
    assert checked_document(block, "", xr) is None and xr_problems(xr)


def test_the_packages_metadata_gives_a_source_only_as_a_url():
    """Crossplane's package managers and registries link meta.crossplane.io/source; the project has no public address
    yet, so it gives none rather than a name that is no address."""
    meta = yaml.safe_load((ROOT / "package" / "crossplane.yaml").read_text())
    annotations = meta["metadata"]["annotations"]
    source = annotations.get("meta.crossplane.io/source")
    assert source is None or re.match(r"https://\S+$", source), source
    assert annotations["meta.crossplane.io/license"] == "Apache-2.0" and (ROOT / "LICENSE").is_file()
