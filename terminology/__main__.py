"""``python -m terminology coverage ...`` (same as ``passerelle terminology coverage ...``)."""

import sys

from terminology.cli import main

sys.exit(main())
