"""The tables of the docs that come from the code, written between markers:

    <!-- generated: NAME (python -m tools.docs) -->
    ...
    <!-- end generated -->

    python -m tools.docs          # rewrite them
    python -m tools.docs --check  # exit 1 if one is stale

NAME is `conditions` (function/conditions.py's CONTRACTS) or `metrics` (the metrics of function/metrics.py).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = (ROOT / "docs" / "how-it-works.md", ROOT / "docs" / "production.md")
BLOCK = re.compile(r"(<!-- generated: (\w+) \(python -m tools\.docs\) -->\n)(.*?)(<!-- end generated -->)", re.S)


def conditions() -> str:
    from function.conditions import CONTRACTS

    rows = ["| Condition | Set | True reasons | False reasons |", "|---|---|---|---|"]
    for c in CONTRACTS:
        rows.append(f"| `{c.type}` | {c.where} | {', '.join(f'`{r.value}`' for r in c.true)} | "
                    f"{', '.join(f'`{r.value}`' for r in c.false)} |")
    return "\n".join(rows) + "\n"


def metrics() -> str:
    from prometheus_client import Counter, Gauge, Histogram

    from function import metrics as m

    rows = ["| Metric | Type | Labels | What it counts |", "|---|---|---|---|"]
    for metric in vars(m).values():
        kind = {Histogram: "histogram", Counter: "counter", Gauge: "gauge"}.get(type(metric))
        if kind is None:
            continue
        name = metric._name + ("_total" if kind == "counter" else "")
        labels = ", ".join(f"`{label}`" for label in metric._labelnames)
        rows.append(f"| `{name}` | {kind} | {labels} | {metric._documentation} |")
    return "\n".join(rows) + "\n"


TABLES = {"conditions": conditions, "metrics": metrics}


def render(text: str) -> str:
    def table(match: re.Match) -> str:
        name = match.group(2)
        if name not in TABLES:
            raise SystemExit(f"unknown generated table {name!r}; known: {', '.join(TABLES)}")
        return match.group(1) + TABLES[name]() + match.group(4)

    return BLOCK.sub(table, text)


def main(argv: list[str]) -> int:
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = render(text)
        if new != text:
            stale.append(page.relative_to(ROOT))
            if "--check" not in argv:
                page.write_text(new)
    if stale and "--check" in argv:
        print(f"stale: {', '.join(map(str, stale))}: run python -m tools.docs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
