"""Render the app icon's PNG sizes from ``fcn-studio.svg`` with Qt's SVG renderer (no display needed).

    QT_QPA_PLATFORM=offscreen .venv/bin/python resources/icons/app/render_pngs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 48, 64, 128, 256, 512)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # Qt needs one while rendering
    renderer = QSvgRenderer(str(HERE / "fcn-studio.svg"))
    if not renderer.isValid():
        print("fcn-studio.svg did not parse", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        out = HERE / f"fcn-studio-{size}.png"
        if not image.save(str(out)):
            print(f"could not write {out}", file=sys.stderr)
            return 1
        print(out.relative_to(HERE.parent.parent.parent))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
