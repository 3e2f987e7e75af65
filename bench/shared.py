"""Where the shared data set lives (official R4 package, HL7 test cases, eHDSI samples, Synthea).

``PASSERELLE_SHARED`` names it; the default is ``../shared`` beside the repository. The
benchmarks and the tests both read it from here; nothing of it is copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared data set's folder (it may not exist: callers check what they need)."""
    return Path(os.environ.get("PASSERELLE_SHARED") or REPO.parent / "shared").resolve()


def synthea_archive() -> Path:
    """The 117 Synthea R4 patient transaction Bundles, as one ``.tar.gz``."""
    return shared_dir() / "datasets" / "synthea-r4" / "bundles.tar.gz"
