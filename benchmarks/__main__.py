"""`python -m benchmarks`: the whole harness (see `benchmarks.harness` for the options)."""

import sys

from .harness import main

sys.exit(main())
