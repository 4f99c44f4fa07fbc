"""`python -m llminst.cli`: the `llminst` command as the console script runs it, and nothing else."""

from __future__ import annotations

import sys

from . import main

sys.exit(main())
