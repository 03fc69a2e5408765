"""Method-set-II entries against their base methods on the same seeds, windows and budget as
bench/methods_real.py, without its non-SSL baselines (they take most of a run's time on 2 cores and do not
enter the ``versus_base`` comparison).

Takes bench/methods_real.py's options and writes bench/results/<name>.json (give a --name other than
methods_real, so the committed full run is kept). ``--variant NAME=METHOD:key=value,key=value`` registers
METHOD with other config defaults under NAME (compared with METHOD's base), to test a setting:
    flock /tmp/robossl-demo.lock python bench/methods_real_versus_base.py --datasets actrectut_gesture \\
        --methods moco,halp --jobs 3 --probe-at "" --name methods_real_halp
    flock /tmp/robossl-demo.lock python bench/methods_real_versus_base.py --datasets actrectut_gesture \\
        --variant bss_keep_mean=bss:keep_zero_frequency=true --methods simclr,bss_keep_mean \\
        --jobs 3 --probe-at "" --name methods_real_bss_keep_mean
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.methods_real as methods_real  # noqa: E402
import bench.methods_real_report as report  # noqa: E402
from robossl.methods import available_methods, register_method  # noqa: E402


def _no_baselines(*args: object, **kwargs: object) -> dict[str, float]:
    return {}


def register_variant(spec: str) -> None:
    """``NAME=METHOD:key=value,key=value``: METHOD's factory with those config defaults, as NAME."""
    name, _, rest = spec.partition("=")
    method, _, settings = rest.partition(":")
    entry = available_methods().get(method)
    if not name or entry is None:
        raise SystemExit(f"--variant {spec!r}: expected NAME=METHOD:key=value,... with a registered METHOD")
    types = {f.name: f.type for f in dataclasses.fields(entry.config_type)}
    overrides = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        if key not in types:
            raise SystemExit(f"--variant {spec!r}: {method} has no config key {key!r}; keys: {sorted(types)}")
        overrides[key] = json.loads(value)
    fields = [(key, types[key], dataclasses.field(default=value)) for key, value in overrides.items()]
    config_type = dataclasses.make_dataclass(f"{name}_config", fields, bases=(entry.config_type,))
    register_method(name, config_type, f"{entry.paper} [{settings}]", entry.modalities)(entry.factory)
    base = report.BASE_METHODS.get(method)
    if base is not None:
        report.BASE_METHODS[name] = base


if __name__ == "__main__":
    arguments = sys.argv[1:]
    while "--variant" in arguments:
        index = arguments.index("--variant")
        register_variant(arguments[index + 1])
        del arguments[index : index + 2]
    if "--name" not in arguments or arguments[arguments.index("--name") + 1] == "methods_real":
        sys.exit(
            "give --name NAME (not methods_real): a run without baselines must not replace the full results"
        )
    sys.argv = [sys.argv[0], *arguments]
    methods_real.baseline_scores = _no_baselines  # type: ignore[assignment]  # looked up per seed, also in forks
    sys.exit(methods_real.main())
