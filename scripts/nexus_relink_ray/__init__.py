"""Distributed proving for nexus-relink on Ray: `python3 scripts/ray_prove.py --help`."""

from .driver import main

__all__ = ["main"]
