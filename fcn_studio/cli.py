"""Headless command line over the same core the GUI uses (no Qt is imported here).

Every sub-command prints one clear line and exits non-zero on bad arguments or bad files;
commands that compute something end with one line of JSON for scripts to read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from fcn_studio.errors import FcnStudioError


def _cmd_demo(args: argparse.Namespace) -> int:
    from fcn_studio.data.demo import create_demo_project

    project = create_demo_project(args.dir, n_images=args.images, n_labelled=args.labelled, seed=args.seed)
    print(json.dumps({"project": str(project.root), "images": len(project.images)}))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from fcn_studio.data.project import Project

    project = Project.open(args.project)
    for w in project.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(
        json.dumps(
            {
                "project": str(project.root),
                "labelset": project.labelset.name,
                "classes": [c.name for c in project.labelset.classes],
                "images": len(project.images),
                "painted_images": sum(1 for e in project.images if e.painted > 0),
            }
        )
    )
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from fcn_studio.data.export import export_project_masks

    summary = export_project_masks(args.project, args.out, formats=args.format, opacity=args.opacity, source=args.source)
    print(json.dumps(summary))
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (and exit 2), like every other CLI error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="fcn-studio", description="fcn-studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("demo", help="write a demo project of synthetic road scenes")
    p.add_argument("dir", type=Path)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--labelled", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("info", help="summarise a project")
    p.add_argument("project", type=Path)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("export", help="export a project's masks")
    p.add_argument("--project", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--format", nargs="+", default=["index"], choices=["index", "color", "overlay", "coco"], help="one or more formats"
    )
    p.add_argument("--opacity", type=float, default=0.5, help="overlay opacity 0..1")
    p.add_argument(
        "--source", default="painted", choices=["painted", "predicted", "merged"],
        help="painted masks, predictions, or painted where present and predicted elsewhere",
    )
    p.set_defaults(func=_cmd_export)

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


#: Later layers (training, inference) register their sub-commands here.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def _register_training_commands() -> None:
    try:
        from fcn_studio.training.cli_commands import register
    except ImportError:
        return
    _EXTRA_COMMANDS.append(register)


_register_training_commands()

COMMANDS = {"demo", "info", "export", "train", "predict", "evaluate"}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FcnStudioError as exc:
        print(f"fcn-studio {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fcn-studio {args.command}: interrupted", file=sys.stderr)
        return 130
