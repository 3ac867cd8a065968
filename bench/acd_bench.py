"""ACD routing benchmark: prints one JSON object.

Usage: python bench/acd_bench.py [--agents 5000] [--skills 200] [--queues 100] [--waiting 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

from hotline.acd.bench import run_bench


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--agents", type=int, default=5000)
    p.add_argument("--skills", type=int, default=200)
    p.add_argument("--queues", type=int, default=100)
    p.add_argument("--waiting", type=int, default=1000)
    p.add_argument("--operations", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    result = run_bench(
        agents=a.agents,
        skills=a.skills,
        queues=a.queues,
        waiting=a.waiting,
        seed=a.seed,
        operations=a.operations,
    )
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
