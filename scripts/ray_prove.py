#!/usr/bin/env python3
"""Prove a nexus-relink guest's run on a Ray cluster (see `--help` and the README).

A thin entry over the package `nexus_relink_ray` beside this file.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nexus_relink_ray import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
