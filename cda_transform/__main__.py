"""``python -m cda_transform cda to-fhir FILE``: the CLI without the rest of Passerelle."""

import sys

from cda_transform.cli import main

sys.exit(main())
