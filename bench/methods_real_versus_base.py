"""Method-set-II entries against their base methods on the same seeds, windows and budget as
bench/methods_real.py, without its non-SSL baselines (they take most of a run's time on 2 cores and do not
enter the ``versus_base`` comparison).

Takes bench/methods_real.py's options and writes bench/results/<name>.json (give a --name other than
methods_real, so the committed full run is kept):
    flock /tmp/robossl-demo.lock python bench/methods_real_versus_base.py --datasets actrectut_gesture \\
        --methods moco,halp --jobs 3 --probe-at "" --name methods_real_halp
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.methods_real as methods_real  # noqa: E402


def _no_baselines(*args: object, **kwargs: object) -> dict[str, float]:
    return {}


if __name__ == "__main__":
    if "--name" not in sys.argv or sys.argv[sys.argv.index("--name") + 1] == "methods_real":
        sys.exit(
            "give --name NAME (not methods_real): a run without baselines must not replace the full results"
        )
    methods_real.baseline_scores = _no_baselines  # type: ignore[assignment]  # looked up per seed, also in forks
    sys.exit(methods_real.main())
