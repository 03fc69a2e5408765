"""Where real recorded data lives: ``$ROBOSSL_DATA``, default ``../shared/data`` from the repository root."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "ROBOSSL_DATA"
_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_ROOT = _REPO_ROOT.parent / "shared" / "data"


def data_root() -> Path | None:
    """The real-data folder, or ``None`` when it does not exist.

    ``$ROBOSSL_DATA`` wins when set (even if it points nowhere, so a typo is not silently replaced by the
    default); otherwise ``<repo>/../shared/data``.
    """
    configured = os.environ.get(DATA_ENV_VAR)
    root = Path(configured).expanduser() if configured else DEFAULT_DATA_ROOT
    return root if root.is_dir() else None


def require_data(subpath: str = "") -> Path:
    """Path to ``subpath`` inside the data root.

    Raises:
        FileNotFoundError: naming the folder that was looked for and how to point robossl at the data.
    """
    root = data_root()
    where = os.environ.get(DATA_ENV_VAR) or str(DEFAULT_DATA_ROOT)
    if root is None:
        raise FileNotFoundError(
            f"real data folder not found at {where}; set {DATA_ENV_VAR}=/path/to/data "
            "(layout: see shared/data/README.md)"
        )
    path = root / subpath
    if not path.exists():
        raise FileNotFoundError(f"{subpath!r} not found in the data folder {root}")
    return path
