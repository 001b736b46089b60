"""A demo project of synthetic road scenes, made offline in about a second.

Each scene has sky, a road in perspective with dashed lane markings, grass verges, a few
vehicles, texture noise and a random lighting change. Because the scene is drawn from its own
label map, the ground truth is exact. Some images get their ground truth as painted masks (to
train on at once); the others start unpainted, and their truth is kept in ``ground_truth/``
so benchmarks and tests can score what a model predicts there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fcn_studio.data.labelset import load_preset
from fcn_studio.data.project import Project

SKY, ROAD, MARKING, VERGE, VEHICLE = range(5)
DEMO_SIZE = (360, 480)  # height, width: CamVid's frame size


def generate_scene(rng: np.random.Generator, size: tuple[int, int] = DEMO_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic road scene: ``(rgb HxWx3 uint8, labels HxW uint8)`` with demo class ids."""
    h, w = size
    horizon = int(h * rng.uniform(0.36, 0.5))
    vx = w * rng.uniform(0.35, 0.65)  # vanishing point
    labels = Image.new("L", (w, h), VERGE)
    draw = ImageDraw.Draw(labels)
    draw.rectangle([0, 0, w, horizon], fill=SKY)
    half_bottom = w * rng.uniform(0.45, 0.8)
    bottom_cx = w / 2 + rng.uniform(-0.15, 0.15) * w
    road = [(vx - 2, horizon), (vx + 2, horizon), (bottom_cx + half_bottom, h), (bottom_cx - half_bottom, h)]
    draw.polygon(road, fill=ROAD)

    def along(t: float, offset: float) -> tuple[float, float]:
        """Point on the road at depth t (0 horizon .. 1 bottom), lateral offset in road widths."""
        y = horizon + t * (h - horizon)
        cx = vx + t * (bottom_cx - vx)
        return cx + offset * t * half_bottom, y

    # dashed centre line, widening towards the camera
    t = 0.08
    while t < 1.0:
        t2 = min(1.0, t + 0.05 + 0.12 * t)
        half = 0.025
        quad = [along(t, -half), along(t, half), along(t2, half), along(t2, -half)]
        draw.polygon(quad, fill=MARKING)
        t = t2 + 0.04 + 0.1 * t2
    # solid edge lines
    for side in (-0.93, 0.93):
        quad = [along(0.02, side - 0.02), along(0.02, side + 0.02), along(1.0, side + 0.02), along(1.0, side - 0.02)]
        draw.polygon(quad, fill=MARKING)

    vehicles = []
    for _ in range(rng.integers(1, 4)):
        depth = rng.uniform(0.15, 0.75)
        lane = rng.choice([-0.45, 0.45]) + rng.uniform(-0.1, 0.1)
        cx, y = along(depth, lane)
        vw = 0.55 * depth * half_bottom
        vh = vw * rng.uniform(0.55, 0.8)
        box = [cx - vw / 2, y - vh, cx + vw / 2, y]
        vehicles.append((depth, box))
    vehicles.sort(key=lambda v: v[0])  # far first, so near ones cover them
    for _, box in vehicles:
        draw.rectangle(box, fill=VEHICLE)
    label = np.asarray(labels, dtype=np.uint8).copy()

    rgb = _render(label, rng, horizon, vehicles)
    return rgb, label


def _render(label: np.ndarray, rng: np.random.Generator, horizon: int, vehicles: list) -> np.ndarray:
    h, w = label.shape
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    img = np.zeros((h, w, 3), np.float32)
    sky_top = np.array([60, 110, 200], np.float32) + rng.uniform(-20, 20, 3)
    sky_bottom = np.array([185, 210, 235], np.float32) + rng.uniform(-15, 15, 3)
    t = np.clip(yy / max(horizon / h, 1e-3), 0, 1)[..., None]
    sky = sky_top * (1 - t) + sky_bottom * t
    grass = np.array([70, 120, 45], np.float32) + rng.uniform(-20, 20, 3)
    asphalt = np.array([95, 95, 100], np.float32) + rng.uniform(-15, 15, 3)
    colors = {
        ROAD: asphalt,
        MARKING: np.array([235, 235, 225], np.float32),
        VERGE: grass,
    }
    img[:] = sky
    for cid, col in colors.items():
        img[label == cid] = col
    # texture: fine noise on road, coarser blotches on grass
    fine = rng.normal(0, 6, (h, w)).astype(np.float32)
    coarse = np.asarray(
        Image.fromarray(rng.integers(0, 255, (h // 8 + 1, w // 8 + 1), dtype=np.uint8)).resize((w, h), Image.BILINEAR),
        np.float32,
    )
    img[label == ROAD] += fine[label == ROAD, None]
    img[label == VERGE] += ((coarse[label == VERGE] - 128) * 0.25)[:, None]
    # vehicles: body colour, darker windows, dark wheels strip at the bottom
    for _, (x0, y0, x1, y1) in vehicles:
        body = rng.uniform(30, 230, 3).astype(np.float32)
        xs, ys = slice(max(int(np.ceil(x0)), 0), int(x1) + 1), slice(max(int(np.ceil(y0)), 0), int(y1) + 1)
        region = label[ys, xs] == VEHICLE
        patch = img[ys, xs]
        patch[region] = body
        hh = patch.shape[0]
        win = slice(int(hh * 0.15), int(hh * 0.45))
        sub = region[win]
        patch[win][sub] = body * 0.35 + 30
        patch[-max(1, hh // 8):][region[-max(1, hh // 8):]] = 25
        img[ys, xs] = patch
    # lighting: global gain, a soft shadow band, sensor noise
    gain = rng.uniform(0.7, 1.2)
    shadow_x = rng.uniform(0, w)
    xx = np.arange(w, dtype=np.float32)[None, :]
    shade = 1 - 0.25 * np.exp(-(((xx - shadow_x) / (0.12 * w)) ** 2))
    img = img * gain * shade[..., None] + rng.normal(0, 3, img.shape).astype(np.float32)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6))
    return np.asarray(out)


def create_demo_project(
    root: str | Path, *, n_images: int = 8, n_labelled: int = 3, seed: int = 0, size: tuple[int, int] = DEMO_SIZE
) -> Project:
    """Write a demo project to ``root``: ``n_labelled`` images painted with exact truth, the rest not.

    Opening an existing demo project returns it unchanged, so ``make run`` keeps the user's work.
    """
    root = Path(root)
    if (root / "project.json").exists():
        return Project.open(root)
    rng = np.random.default_rng(seed)
    staging = root / "ground_truth"
    staging.mkdir(parents=True, exist_ok=True)
    sources, truths = [], []
    for i in range(n_images):
        rgb, label = generate_scene(rng, size)
        src = staging / f"road_{i:02d}.png"
        Image.fromarray(rgb).save(src.with_suffix(".jpg"), quality=92)
        Image.fromarray(label).save(src)
        sources.append(src.with_suffix(".jpg"))
        truths.append(label)
    project = Project.create(root, load_preset("demo"))
    project.add_images(sources, mode="copy")
    for src in sources:
        src.unlink()
    for entry, label in zip(project.images[:n_labelled], truths[:n_labelled]):
        project.save_mask(entry.id, label, save_project=False)
    project.extra["demo"] = {"seed": seed, "ground_truth": "ground_truth/<image id>.png (class ids)"}
    project.save()
    return project
