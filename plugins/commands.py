"""The subcommands the in-tree plugins add to ``ganforge``.

Registered under the ``ganforge.commands`` entry-point group, which the command line
loads before parsing; this module imports nothing heavy, so ``ganforge --help`` stays
fast. Each command imports its implementation when it runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from ganforge import hookimpl
from ganforge.core.argtypes import at_least, between, positive


def _rebalance(args: argparse.Namespace) -> int:
    from ganforge_plugins.zhang import run_rebalance

    return run_rebalance(args)


@hookimpl
def ganforge_add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rebalance", help="compute Zhang et al. class-rebalancing weights over a data source (for loss 'zhang')"
    )
    parser.add_argument(
        "data",
        help="data source, e.g. imagefolder:photos/ or builtin:samples, or a recipe file (its data.train mix, drawn by weight)",
    )
    parser.add_argument(
        "-o", "--output", required=True, help="JSON file to write; use it as losses: {zhang: {rebalance: FILE}}"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    parser.add_argument("--images", type=at_least(1), default=1000, help="at most this many images (default 1000)")
    parser.add_argument(
        "--size", type=at_least(16), default=128, help="center crop size the images are counted at (default 128)"
    )
    parser.add_argument(
        "--sigma", type=positive, default=5.0, help="Gaussian smoothing of the prior in ab units (default 5)"
    )
    parser.add_argument(
        "--mix", type=between(0, 1), default=0.5, help="weight of the uniform distribution, lambda (default 0.5)"
    )
    parser.set_defaults(run=_rebalance)
