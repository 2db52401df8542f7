"""`duckmesh generate`: write the source files of every domain's operational system."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import generate
from .project import MeshError, find_mesh


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate deterministic source data",
        description="Write the CRM CSV, order Parquet, ticket JSON lines and marketing files "
                    "for the fictional retailer. Same --scale and --seed give the same bytes.")
    parser.add_argument("--scale", type=float, default=0.1, help="1 = 100k customers, 1M orders")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default data/scale_<scale> in the mesh)")
    parser.add_argument("--force", action="store_true", help="regenerate even if present")
    parser.add_argument("--batch", type=int, default=None,
                        help="also write batch N (>= 2) of the order system: new, late and "
                             "updated orders (orders_000N.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        out = args.out or find_mesh(args.project_dir).data_dir(args.scale)
        result = generate.generate(out, scale=args.scale, seed=args.seed, force=args.force)
    except ValueError as error:
        raise MeshError(str(error)) from error
    print(generate.describe(result))
    if args.batch is not None:
        try:
            generate.generate_batch(result.out_dir, args.batch)
        except ValueError as error:
            raise MeshError(str(error)) from error
    print(f"written to {result.out_dir}")
    return 0
