"""``python -m terminology load|coverage ...`` (same as ``passerelle terminology ...``)."""

import sys

from terminology.cli import main

sys.exit(main())
