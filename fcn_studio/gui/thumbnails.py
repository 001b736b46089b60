"""Image thumbnails made in background threads, delivered to the GUI thread as QImage.

Why: decoding a folder of photos on the GUI thread freezes the image list for seconds. Each
thumbnail is decoded by a job on a background queue of its own (:class:`~fcn_studio.gui.background.Background`
with two threads, so thumbnails never starve exports or imports, and switching projects can
drop queued work with ``clear()``). The worker builds a *QImage*, which is safe off the GUI thread; QPixmap is not,
so the receiver makes the pixmap. JPEGs are decoded at reduced size with ``Image.draft``,
which is what makes a thousand camera photos take seconds rather than minutes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from fcn_studio.data.imageio import to_8bit_gray
from fcn_studio.gui.background import Background

log = logging.getLogger(__name__)


def make_thumbnail(path: str | Path, size: int) -> QImage:
    """A QImage at most ``size`` px on its longer side, upright per EXIF; raises on bad files.

    Safe to call from any thread. The QImage owns its pixels (no reference to Pillow memory).
    """
    with Image.open(path) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at 1/2, 1/4 or 1/8 scale; no-op otherwise
        if img.mode.startswith(("I", "F")):
            img = Image.fromarray(to_8bit_gray(img))  # Pillow cannot resize 16-bit; map as read_image does
        elif img.mode not in ("RGB", "RGBA", "L", "P", "LA", "PA"):
            img = img.convert("RGB")  # CMYK, YCbCr, 1-bit ...
        img.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        img = ImageOps.exif_transpose(img)
        rgb = img.convert("RGB")
    data = rgb.tobytes()
    w, h = rgb.size
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ThumbnailLoader(QObject):
    """Asks for thumbnails by key (an image id), answers by signal, keeps the newest in an LRU cache.

    ``request(key, path)`` returns the cached QImage at once when there is one; otherwise it
    queues one decode (a key already queued is not queued twice) and ``thumbnail_ready``
    fires later, in the GUI thread. ``clear()`` forgets everything and drops queued jobs;
    results of jobs already running are discarded.
    """

    thumbnail_ready = Signal(str, QImage)
    thumbnail_failed = Signal(str, str)

    def __init__(self, size: int = 96, cache_size: int = 512, threads: int = 2, parent: QObject | None = None):
        super().__init__(parent)
        self.size = size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()
        self._failed: set[str] = set()
        self._generation = 0
        self._jobs = Background("fcn-thumbnails", self, threads=threads)

    def cached(self, key: str) -> QImage | None:
        image = self._cache.get(key)
        if image is not None:
            self._cache.move_to_end(key)
        return image

    def request(self, key: str, path: str | Path) -> QImage | None:
        """The cached thumbnail, or None after queueing a decode (unless one is queued or failed)."""
        image = self.cached(key)
        if image is not None or key in self._pending or key in self._failed:
            return image
        self._pending.add(key)
        generation, path, size = self._generation, Path(path), self.size

        def decode() -> tuple[QImage | None, str]:  # a pool thread
            try:
                return make_thumbnail(path, size), ""
            except Exception as exc:  # any decoder failure: the list shows a placeholder instead
                return None, f"{path.name}: {exc}"

        self._jobs.submit(decode, lambda result: self._on_done((generation, key, *result)))
        return None

    def is_pending(self, key: str) -> bool:
        return key in self._pending

    def invalidate(self, key: str) -> None:
        """Forget one thumbnail (its file changed); the next request decodes it again."""
        self._cache.pop(key, None)
        self._failed.discard(key)

    def clear(self) -> None:
        """Forget all thumbnails and drop queued decodes (e.g. when another project opens)."""
        self._generation += 1
        self._jobs.clear()
        self._cache.clear()
        self._pending.clear()
        self._failed.clear()

    def wait(self, msecs: int = -1) -> bool:
        """Block until running decodes end (for shutdown and tests); True when all ended."""
        return self._jobs.wait(msecs)

    def _on_done(self, payload: tuple[int, str, QImage | None, str]) -> None:
        generation, key, image, error = payload
        if generation != self._generation:
            return
        self._pending.discard(key)
        if image is None:
            self._failed.add(key)
            log.info("no thumbnail for %s", error)
            self.thumbnail_failed.emit(key, error)
            return
        self._cache[key] = image
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self.thumbnail_ready.emit(key, image)
