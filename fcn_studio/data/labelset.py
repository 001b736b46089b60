"""Label sets: the ordered classes a mask's pixel values mean, and which values are ignored.

The JSON format is the one of CamVid's ``classes.json``::

    {"name": "CamVid-11", "ignore_index": 11,
     "classes": [{"id": 0, "name": "Sky", "color": [128, 128, 128]}, ...]}

Two values are never trained on and never scored: :data:`UNPAINTED` (255, a pixel nobody
painted) and the optional ``ignore_index`` a dataset declares (CamVid's 11, "Unlabelled").
The trainable classes must have the ids ``0..K-1`` so they index the network's K outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from fcn_studio.errors import LabelSetError

#: Mask value of a pixel nobody painted; ignored by training and metrics.
UNPAINTED = 255
#: Display colour of unpainted pixels in indexed PNGs (PASCAL VOC's "void" colour).
UNPAINTED_COLOR = (224, 224, 192)


@dataclass(frozen=True)
class LabelClass:
    """One class: the pixel value ``id``, a display ``name`` and an RGB ``color``."""

    id: int
    name: str
    color: tuple[int, int, int]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "color": list(self.color)}


@dataclass(frozen=True)
class LabelSet:
    """An ordered list of classes plus the ignore rules; immutable, edits return a new set."""

    name: str
    classes: tuple[LabelClass, ...]
    ignore_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            raise LabelSetError(f"label set {self.name!r}: class ids repeat: {sorted(ids)}")
        for c in self.classes:
            if not 0 <= c.id < UNPAINTED:
                raise LabelSetError(
                    f"label set {self.name!r}: class {c.name!r} has id {c.id}; ids must be 0..254"
                )
            if len(c.color) != 3 or not all(0 <= v <= 255 for v in c.color):
                raise LabelSetError(f"label set {self.name!r}: class {c.name!r} colour {c.color} is not RGB 0..255")
        trainable = sorted(self.train_ids)
        if trainable != list(range(len(trainable))):
            raise LabelSetError(
                f"label set {self.name!r}: trainable class ids must be 0..K-1 without gaps, got {trainable}"
            )
        if not trainable:
            raise LabelSetError(f"label set {self.name!r} has no trainable class")

    # -- views -------------------------------------------------------------------------
    @property
    def train_ids(self) -> list[int]:
        """Ids of the classes a network predicts (everything but ``ignore_index``)."""
        return [c.id for c in self.classes if c.id != self.ignore_index]

    @property
    def num_classes(self) -> int:
        """Number of network outputs: the trainable classes."""
        return len(self.train_ids)

    @property
    def trainable_classes(self) -> list[LabelClass]:
        return sorted((c for c in self.classes if c.id != self.ignore_index), key=lambda c: c.id)

    @property
    def ignored_values(self) -> tuple[int, ...]:
        """Mask values that training and metrics skip."""
        return (UNPAINTED,) if self.ignore_index is None else (UNPAINTED, self.ignore_index)

    def valid_values(self) -> np.ndarray:
        """Boolean table over 0..255: which mask values this label set understands."""
        ok = np.zeros(256, dtype=bool)
        ok[[c.id for c in self.classes]] = True
        ok[UNPAINTED] = True
        return ok

    def by_id(self, class_id: int) -> LabelClass:
        for c in self.classes:
            if c.id == class_id:
                return c
        raise KeyError(class_id)

    def color_lut(self) -> np.ndarray:
        """(256, 3) uint8 table mapping a mask value to its display colour."""
        lut = np.zeros((256, 3), dtype=np.uint8)
        for c in self.classes:
            lut[c.id] = c.color
        lut[UNPAINTED] = UNPAINTED_COLOR
        return lut

    def palette(self) -> list[int]:
        """768 ints for ``PIL.Image.putpalette``: the PASCAL VOC indexed-PNG convention."""
        return self.color_lut().reshape(-1).tolist()

    # -- edits (return new sets) -----------------------------------------------------------
    def with_classes(self, classes: Iterable[LabelClass]) -> "LabelSet":
        return replace(self, classes=tuple(classes))

    # -- JSON ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.extra)
        data.update(
            name=self.name,
            ignore_index=self.ignore_index,
            classes=[c.to_json() for c in self.classes],
        )
        return data

    @classmethod
    def from_json(cls, data: Any, source: str = "label set") -> "LabelSet":
        """Validate field by field; unknown keys are kept in ``extra`` and written back."""
        if not isinstance(data, dict):
            raise LabelSetError(f"{source}: expected a JSON object, got {type(data).__name__}")
        classes_raw = data.get("classes")
        if not isinstance(classes_raw, list) or not classes_raw:
            raise LabelSetError(f"{source}: 'classes' must be a non-empty list")
        classes = []
        for i, item in enumerate(classes_raw):
            try:
                color = tuple(int(v) for v in item["color"])
                classes.append(LabelClass(id=int(item["id"]), name=str(item["name"]), color=color))  # type: ignore[arg-type]
            except (KeyError, TypeError, ValueError) as exc:
                raise LabelSetError(f"{source}: class #{i} needs id, name and color [r, g, b] ({exc})") from None
        ignore = data.get("ignore_index")
        if ignore is not None:
            try:
                ignore = int(ignore)
            except (TypeError, ValueError):
                raise LabelSetError(f"{source}: ignore_index must be an integer or null") from None
        extra = {k: v for k, v in data.items() if k not in ("name", "ignore_index", "classes")}
        return cls(name=str(data.get("name", "unnamed")), classes=tuple(classes), ignore_index=ignore, extra=extra)

    @classmethod
    def load(cls, path: str | Path) -> "LabelSet":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LabelSetError(f"cannot read label set {path}: {exc.strerror or exc}") from None
        except json.JSONDecodeError as exc:
            raise LabelSetError(f"label set {path} is not valid JSON (line {exc.lineno}): {exc.msg}") from None
        return cls.from_json(data, source=str(path))

    def save(self, path: str | Path) -> None:
        from fcn_studio.data.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_json(), indent=2) + "\n")


def preset_names() -> list[str]:
    """Names of the bundled presets (file stems in ``resources/labelsets``)."""
    from fcn_studio.resources import resource_path

    return sorted(p.stem for p in resource_path("labelsets").glob("*.json"))


def load_preset(name: str) -> LabelSet:
    """A bundled label set by file stem: ``road``, ``camvid11``, ``cityscapes19``, ``demo``."""
    from fcn_studio.resources import resource_path

    path = resource_path("labelsets", f"{name}.json")
    if not path.exists():
        raise LabelSetError(f"no label-set preset {name!r}; choose one of {', '.join(preset_names())}")
    return LabelSet.load(path)
