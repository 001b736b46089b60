"""Headless command line over the same core the GUI uses (no Qt is imported here).

Every sub-command prints one clear line and exits non-zero on bad arguments or bad files;
commands that compute something end with one line of JSON for scripts to read. Exit status:
0 all done; 1 done, but some files failed (each named on stderr and listed in the JSON);
2 nothing done (bad arguments or input, one line on stderr); 130 interrupted. Warnings from
libraries (Pillow, torch) are printed as one line each, never as a raw multi-line warning.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

from fcn_studio import cpu_share
from fcn_studio.cli.args import UsageError, non_negative_int, positive_int, unit_float
from fcn_studio.errors import FcnStudioError


def _cmd_demo(args: argparse.Namespace) -> int:
    from fcn_studio.data.demo import create_demo_project

    if args.labelled > args.images:
        raise UsageError(f"--labelled {args.labelled} is more than --images {args.images}")

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


def _labelset(value: str):  # noqa: ANN202 - a LabelSet
    """A preset name or a label-set JSON file."""
    from fcn_studio.data.labelset import LabelSet, load_preset

    path = Path(value)
    if value.lower().endswith(".json") or path.is_file():
        if not path.is_file():
            raise UsageError(f"label-set file {path} does not exist")
        return LabelSet.load(path)
    return load_preset(value)


def _cmd_new(args: argparse.Namespace) -> int:
    from fcn_studio.data.mask_import import list_image_files
    from fcn_studio.data.project import PROJECT_FILE, Project

    labelset = _labelset(args.labelset)
    if (args.dir / PROJECT_FILE).exists():
        raise UsageError(f"{args.dir} already holds a project; import into it with fcn-studio import --project {args.dir}")
    files: list[Path] = []
    if args.images is not None:
        if args.images.is_file():
            files = [args.images]
        elif args.images.is_dir():
            files = list_image_files(args.images)
            if not files:
                raise UsageError(f"{args.images} holds no image files ({', '.join(_suffixes())})")
        else:
            raise UsageError(f"--images {args.images} is neither a folder nor a file")
    project = Project.create(args.dir, labelset)
    result = project.add_images(files, mode="link" if args.link else "copy") if files else None
    refused = [] if result is None else result.refused
    for name, reason in refused:
        print(f"fcn-studio new: skipped {name}: {reason}", file=sys.stderr)
    print(json.dumps({
        "project": str(project.root), "labelset": labelset.name, "classes": [c.name for c in labelset.classes],
        "images": len(project.images), "refused": [{"file": n, "reason": r} for n, r in refused],
        "duplicates": [] if result is None else result.duplicates,
    }))
    return 1 if refused else 0


def _suffixes() -> list[str]:
    from fcn_studio.data.imageio import IMAGE_SUFFIXES

    return list(IMAGE_SUFFIXES)


def _cmd_import(args: argparse.Namespace) -> int:
    from fcn_studio.data.mask_import import list_image_files, run_import
    from fcn_studio.data.project import Project

    if not args.masks.is_dir():
        raise UsageError(f"--masks {args.masks} is not a folder")
    project = Project.open(args.project)
    for w in project.warnings:
        print(f"fcn-studio import: warning: {w}", file=sys.stderr)
    if not list_image_files(args.masks):
        raise UsageError(f"{args.masks} holds no mask files ({', '.join(_suffixes())})")
    report = run_import(project, args.masks, overwrite=args.replace, kind=args.format)
    for row in report.rows:
        if row.status != "imported":
            print(f"fcn-studio import: {row.status} {row.mask}: {row.detail}", file=sys.stderr)
    print(json.dumps(report.to_json()))
    if report.count("imported") == 0:
        print(f"fcn-studio import: no mask was imported ({report.headline().lower()})", file=sys.stderr)
        return 1
    return 1 if report.count("refused") else 0


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (and exit 2), like every other CLI error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="fcn-studio", description="fcn-studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("demo", help="write a demo project of synthetic road scenes")
    p.add_argument("dir", type=Path)
    p.add_argument("--images", type=positive_int, default=8)
    p.add_argument("--labelled", type=non_negative_int, default=3)
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
    p.add_argument("--opacity", type=unit_float, default=0.5, help="overlay opacity 0..1")
    p.add_argument(
        "--source", default="painted", choices=["painted", "predicted", "merged"],
        help="painted masks, predictions, or painted where present and predicted elsewhere",
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("new", help="create an empty project, optionally with images")
    p.add_argument("dir", type=Path)
    p.add_argument("--labelset", required=True, help="road, camvid11, cityscapes19 (a preset) or a label-set JSON file")
    p.add_argument("--images", type=Path, help="a folder of images (or one image) to add")
    p.add_argument("--link", action="store_true", help="link the images instead of copying them")
    p.set_defaults(func=_cmd_new)

    p = sub.add_parser("import", help="import a folder of masks into a project (matched to images by name)")
    p.add_argument("--project", type=Path, required=True)
    p.add_argument("--masks", type=Path, required=True, help="folder of masks: KITTI gt_image_2, CamVid *_L, Cityscapes *_labelIds, ...")
    p.add_argument("--format", default="auto", choices=["auto", "id", "index", "color"],
                   help="mask format to insist on (auto: each file as it is)")
    p.add_argument("--replace", action="store_true", help="also replace masks of images already painted")
    p.set_defaults(func=_cmd_import)

    for extra in _EXTRA_COMMANDS:
        extra(sub)
    return parser


#: Later layers (training, inference) register their sub-commands here.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def _register_training_commands() -> None:
    from fcn_studio.cli.training_commands import register  # torch-free: its commands import torch when run

    _EXTRA_COMMANDS.append(register)


_register_training_commands()

COMMANDS = {"demo", "info", "export", "new", "import", "train", "predict", "evaluate", "export-model"}


@contextlib.contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Show each library warning as ``fcn-studio CMD: warning: <first line>`` on stderr.

    Pillow's ``DecompressionBombWarning`` and torch's ``UserWarning`` otherwise print a file
    path, a line number and a source line; the filters (which warnings show, how often) stay
    Python's.
    """

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
        text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
        print(f"fcn-studio {command}: warning: {text}", file=sys.stderr)

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def main(argv: list[str] | None = None) -> int:
    # before any command imports torch: its threads sleep rather than spin on a busy CPU
    cpu_share.prefer_passive_wait()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with one_line_warnings(args.command):
            return int(args.func(args) or 0)
    except FcnStudioError as exc:
        print(f"fcn-studio {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder without permission: name it, no traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"fcn-studio {args.command}: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"fcn-studio {args.command}: out of memory", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fcn-studio {args.command}: interrupted", file=sys.stderr)
        return 130
