"""``trust find`` and ``trust list`` wall time, this tree against another (e.g. the commit
before the cache), on this machine's real stores (read only).

    python bench/bench_trust.py CA.pem [OTHER_SRC_DIR]

OTHER_SRC_DIR: a ``src`` directory of another tlsdoctor (``git archive REV | tar -x -C
DIR``). Each command runs 5 times; the first run of this tree fills the cache
(~/.cache/tlsdoctor/stores), so best and median are shown with the first run apart.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 5


def timed(src: Path, args: list[str]) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tlsdoctor", *args],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    ca = sys.argv[1]
    trees = {"this tree": Path(__file__).resolve().parent.parent / "src"}
    if len(sys.argv) > 2:
        trees["other"] = Path(sys.argv[2])
    for label, src in trees.items():
        for args in (["trust", "find", ca], ["trust", "list"]):
            runs = timed(src, args)
            print(
                f"{label:10s} {' '.join(args[:2]):11s} first {runs[0]:.2f} s, then best "
                f"{min(runs[1:]):.2f} s, median {statistics.median(runs[1:]):.2f} s"
            )


if __name__ == "__main__":
    main()
