"""Run every benchmark in turn (each also runs alone: ``python -m bench.<name>``).

Each script keeps its finished cells in bench/results/*.json, so this can be interrupted and rerun.
"""

from __future__ import annotations

import importlib
import sys

ORDER = ("models", "baselines", "fidelity", "llm_client", "flower", "server_scaling", "scoring", "stragglers",
         "convergence", "call_efficiency", "reliability")


def main(argv: list[str] | None = None) -> None:
    names = (argv if argv is not None else sys.argv[1:]) or list(ORDER)
    for name in names:
        print(f"== bench.{name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main([]) if name != "llm_client" else module.main()


if __name__ == "__main__":
    main()
