"""Path building on crafted chains: the work bounds keep a hostile chain fast.

Run: python bench/bench_path_building.py [--runs 5]

Two shapes, each at several sizes, timed through ``check_chain`` (the whole diagnosis):
- "look-alikes": N CA certificates of one name, each signed by the one before (every
  certificate is a candidate issuer of every other);
- "mesh": two names A and B with sqrt(N) keys each, every A signed by every B and back
  (cross-signs everywhere, loops everywhere).
Neither reaches a trusted root, so the search explores until its bounds stop it
(analysis/path.py: MAX_CANDIDATES, MAX_SIGNATURE_CHECKS, MAX_STEPS, MAX_PATHS).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pathcases as pc


def look_alikes(count: int) -> list[object]:
    name = pc._name("Look Alike CA", "Crafted")
    nodes = [pc.make("Look Alike CA", None, subject=name)]
    for _ in range(count - 1):
        nodes.append(pc.make("Look Alike CA", nodes[-1], subject=name))
    return [pc.leaf(nodes[-1]).cert, *(node.cert for node in reversed(nodes))]


def mesh(count: int) -> list[object]:
    from cryptography.hazmat.primitives.asymmetric import ec

    half = max(1, math.isqrt(count))
    keys_a = [ec.generate_private_key(ec.SECP256R1()) for _ in range(half)]
    keys_b = [ec.generate_private_key(ec.SECP256R1()) for _ in range(half)]
    seed_b = pc.make("Mesh B", None, key=keys_b[0])
    certs = []
    a_nodes = [pc.make("Mesh A", seed_b, key=key) for key in keys_a]
    for a_node in a_nodes:
        certs.extend(pc.make("Mesh B", a_node, key=key).cert for key in keys_b)
    certs.extend(node.cert for node in a_nodes)
    return [pc.leaf(a_nodes[0]).cert, *certs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from tlsdoctor.analysis import facts
    from tlsdoctor.anchors import CUSTOM, TrustAnchors
    from tlsdoctor.check import check_chain
    from tlsdoctor.models import TrustAnchorSource

    other = pc.make("Unrelated Root", None).cert
    anchors = TrustAnchors([(TrustAnchorSource("bench", "<bench>", 1, CUSTOM), [other])])
    print(f"check_chain on crafted chains, {args.runs} runs each, cold caches (ms):")
    print(f"  {'shape':12s} {'certs':>6s} {'median':>8s} {'max':>8s}")
    for shape, make in (("look-alikes", look_alikes), ("mesh", mesh)):
        for size in (4, 16, 64, 256):
            chain = make(size)
            times = []
            for _ in range(args.runs):
                facts._FACTS_CACHE.clear()
                facts._SIGNATURE_CACHE.clear()
                start = time.perf_counter()
                check_chain(chain, pc.HOST, at=pc.NOW, anchors=anchors)  # type: ignore[arg-type]
                times.append((time.perf_counter() - start) * 1000)
            print(
                f"  {shape:12s} {len(chain):6d} {statistics.median(times):8.1f} {max(times):8.1f}"
            )


if __name__ == "__main__":
    main()
