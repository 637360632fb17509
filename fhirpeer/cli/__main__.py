"""`python -m fhirpeer.cli …` — the same as the `fhirpeer` command."""

import sys

from . import main

sys.exit(main())
