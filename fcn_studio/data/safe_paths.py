"""Where a project path really leads: symlinks resolved before any read, write, move or delete.

Checking only the text of a path (no ``..``, not absolute) is not enough: if ``masks/`` is a
symbolic link to a folder elsewhere, ``masks/a.png`` is written there; if ``trash/`` is one,
removing an image overwrites a file outside the project. So every project path is resolved
for real (:func:`os.path.realpath`) and refused unless it stays inside the project folder.

One exception is deliberate: images added in *link* mode are symbolic links from ``images/``
to the user's own files. Such a *file* link may lead anywhere, for reading; the folder it sits
in must still be inside the project, and moving the link to the trash moves the link itself,
never the file it points to.

Moves into the trash never replace an existing file: a clash gets a numbered name.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

from fcn_studio.errors import ProjectError


def is_inside(path: str | Path, root_real: str) -> bool:
    """Whether the already-resolved ``path`` is ``root_real`` or lies below it."""
    path = str(path)
    return path == root_real or path.startswith(root_real.rstrip(os.sep) + os.sep)


def resolve_inside(root: Path, relative: str, *, allow_file_link: bool = False, folder: bool = False) -> Path:
    """``root / relative`` after checking that following its links stays inside ``root``.

    Every folder on the way must resolve inside the project. The last part may be a link
    leading outside only when ``allow_file_link`` is set (images added in link mode, read
    only). Returns the unresolved path, so a link is moved or replaced as a link.
    Raises :class:`ProjectError` naming the link and where it leads; a link outside that leads
    to nothing (a drive not mounted) is named as missing, the first thing to fix. ``folder``:
    ``relative`` names a folder (the wording of that message).
    """
    root_real = ""  # resolved only when a link is met: one lstat per part otherwise
    parts = PurePosixPath(relative).parts
    path = Path(root)
    for i, part in enumerate(parts):
        path = path / part
        last = i == len(parts) - 1
        if not os.path.islink(path):
            continue
        if not last and not os.path.exists(path):
            raise dangling_link_error(root, "/".join(parts[: i + 1]) + "/", path)
        root_real = root_real or os.path.realpath(root)
        target = os.path.realpath(path)
        if is_inside(target, root_real):
            continue
        if last and allow_file_link and not os.path.isdir(target):
            continue
        is_folder = os.path.isdir(target) or not last or folder
        if not os.path.exists(path):
            raise dangling_link_error(root, "/".join(parts[: i + 1]) + ("/" if is_folder else ""), path, folder=is_folder)
        shown = "/".join(parts[: i + 1]) + ("/" if is_folder else "")
        kind = "folder" if is_folder else "file"
        raise ProjectError(
            f"{shown} in project {root} is a link to {target}, outside the project; fcn-studio only reads "
            f"and writes inside the project folder. Replace the link with a real {kind} (move its contents in)"
        )
    return Path(root).joinpath(*parts)


def resolve_folder(root: Path, name: str) -> Path:
    """:func:`resolve_inside` for one of the project's own folders, refusing also a link to
    nothing there (``mkdir`` on such a link fails with a bare "File exists")."""
    path = resolve_inside(root, name, folder=True)
    if os.path.islink(path) and not os.path.exists(path):
        raise dangling_link_error(root, f"{name}/", path)
    return path


def dangling_link_error(root: Path, shown: str, path: Path, *, folder: bool = True) -> ProjectError:
    """The message for a folder (or file) of the project that is a link to something that is not there."""
    again = "remove the link and fcn-studio makes the folder again" if folder else "remove the link"
    return ProjectError(
        f"{shown} in project {root} is a link to {os.readlink(path)}, which does not exist (moved, deleted or "
        f"not mounted); restore what it points to, or {again}"
    )


def move_without_overwriting(src: Path, folder: Path) -> Path:
    """Move ``src`` (a file or a link, not followed) into ``folder``; a clash gets ``name_2``.

    Uses a hard link plus unlink where the file system has them, which fails rather than
    replaces when the name is taken even if another program creates it meanwhile; elsewhere
    the name is checked just before the rename. Returns where ``src`` ended up.
    """
    stem, suffix = src.stem, src.suffix
    n = 1
    while True:
        dst = folder / (src.name if n == 1 else f"{stem}_{n}{suffix}")
        n += 1
        if os.path.lexists(dst):
            continue
        try:
            os.link(src, dst, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK, errno.EOPNOTSUPP):
                raise
            if os.path.lexists(dst):
                continue
            os.rename(src, dst)
            return dst
        os.unlink(src)
        return dst
