"""`cricksy-worker`: a thin Click layer over the worker's functions."""
from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Cricksy video-analysis worker.

    \b
    Example:
      cricksy-worker analyze swing.mp4 --out out/
    """
