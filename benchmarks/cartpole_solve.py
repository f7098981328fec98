"""Time and frames for A3C to reach a mean return of 475 over 20 episodes on CartPole-v1.

    python benchmarks/cartpole_solve.py --seeds 0 1 2 3 4 --actors 2

Trains `configs/cartpole_a3c.yaml` once per seed with early stop at 475, and
prints seconds (from launch) and frames to solve for each seed, plus the median.
Like `python -m learner`, it shares compiled programs through the JAX compile cache
(`common.process.enable_compile_cache`): a machine's very first run compiles and
fills it (see each seed's `first_update_seconds`), later runs read it back.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "jax")

from common.process import enable_compile_cache  # noqa: E402  (before JAX is imported, as learner/__main__.py)

enable_compile_cache()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "cartpole_a3c.yaml"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--target", type=float, default=475.0)
    args = p.parse_args()

    from common import config as config_lib
    from learner.train import train

    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as run_dir:
            cfg = config_lib.load(
                args.config,
                {
                    "seed": seed,
                    "actor.count": args.actors,
                    "run.dir": run_dir,
                    "run.stop_at_return": args.target,
                    "run.stop_window": 20,
                },
            )
            s = train(cfg, quiet=True)
        solved = s.solved_at
        rows.append(
            {
                "seed": seed,
                "solved": solved is not None,
                "seconds": round(solved["seconds"], 1) if solved else None,
                "frames": solved["frames"] if solved else None,
                "first_update_seconds": round(s.first_update_seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    done = [r for r in rows if r["solved"]]
    print(f"solved {len(done)}/{len(rows)}", end="")
    if done:
        print(
            f"; median {statistics.median(r['seconds'] for r in done):.1f} s, "
            f"{statistics.median(r['frames'] for r in done):,.0f} frames"
        )
    else:
        print()
    return 0 if len(done) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
