"""Put the summary table of the last full run (bench/results/gateway.json) into README.md.

    .venv/bin/python -m bench.gateway.readme [--results bench/results/gateway.json]

``make bench BENCH_ARGS=--update-readme`` does the same at the end of a run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.gateway import report
from bench.gateway.processes import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "gateway.json")
    args = parser.parse_args()
    results = json.loads(args.results.read_text())
    readme = ROOT / "README.md"
    readme.write_text(report.update_readme(readme.read_text(), report.markdown(results)))
    print(f"README.md: table of {results['meta']['date']} ({args.results.name})")


if __name__ == "__main__":
    main()
