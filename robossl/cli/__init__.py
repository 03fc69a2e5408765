"""`robossl <verb>`: one verb per module in this package (see main.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_data_verb(verb: str, threads: int | None, body: Callable[[], int]) -> int:
    """Run a data verb's ``body`` with ``threads`` torch/BLAS threads (None: library default); a named
    input error (robossl.errors.InputError, raised where detected) ends as ``robossl <verb>: ...`` with
    status 2, while anything else keeps its traceback (a bug)."""
    from robossl.errors import InputError

    try:
        if threads:
            import torch
            from threadpoolctl import threadpool_limits

            torch.set_num_threads(threads)
            with threadpool_limits(threads):
                return body()
        return body()
    except InputError as exc:
        print(f"robossl {verb}: {exc}", file=sys.stderr)
        return 2
