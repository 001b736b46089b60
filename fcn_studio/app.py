"""Entry point of ``fcn-studio`` and ``python -m fcn_studio``.

No arguments (or a project folder, ``--demo``, ``--self-test``) opens the desktop app;
a sub-command (``train``, ``predict``, ``evaluate``, ``export``, ``demo``, ``info``) runs
headless through :mod:`fcn_studio.cli` without importing Qt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _gui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fcn-studio",
        description="Paint label masks, fine-tune an FCN on them, watch it learn. "
        "Sub-commands run headless: fcn-studio {new,import,demo,info,export,train,predict,evaluate,export-model} --help",
    )
    p.add_argument("project", nargs="?", type=Path, help="project folder to open")
    p.add_argument("--demo", type=Path, metavar="DIR", help="open (creating it first if needed) a demo project in DIR")
    p.add_argument("--self-test", action="store_true", help="open the window on a generated demo, exercise it, exit 0 if all works")
    p.add_argument("--screenshot", type=Path, metavar="PNG", help="save a screenshot of the window once it is shown, then quit")
    p.add_argument("--quit-after", type=int, metavar="MS", help="quit automatically after MS milliseconds")
    return p


def main(argv: list[str] | None = None) -> int:
    # a frozen (PyInstaller) app is also the interpreter of its training process: let the
    # child run its task instead of opening a second window
    import multiprocessing

    multiprocessing.freeze_support()
    argv = list(sys.argv[1:] if argv is None else argv)
    from fcn_studio.cli import COMMANDS

    if argv and argv[0] in COMMANDS:
        from fcn_studio.cli import main as cli_main

        return cli_main(argv)
    args = _gui_parser().parse_args(argv)
    from fcn_studio.gui.display_check import display_problem

    problem = display_problem()
    if problem:
        print(f"fcn-studio: {problem}", file=sys.stderr)
        return 3
    from fcn_studio.gui.launch import run_gui

    return run_gui(
        project=args.project,
        demo=args.demo,
        self_test=args.self_test,
        screenshot=args.screenshot,
        quit_after_ms=args.quit_after,
    )


if __name__ == "__main__":
    raise SystemExit(main())
