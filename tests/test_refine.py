"""Edge-aware refinement moves coarse class boundaries onto the image's colour edges."""

import numpy as np
import pytest

from fcn_studio.inference.refine import edge_refine, refine_radius, sparse_labels


def two_regions(h: int = 96, w: int = 128, edge: int = 53, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image, grey left of column ``edge`` and green right of it; its true labels."""
    rng = np.random.default_rng(seed)
    image = np.zeros((h, w, 3), np.float32)
    image[:, :edge] = (100, 100, 105)
    image[:, edge:] = (70, 125, 45)
    image += rng.normal(0, 6, image.shape)
    truth = np.zeros((h, w), np.uint8)
    truth[:, edge:] = 1
    return np.clip(image, 0, 255).astype(np.uint8), truth


def coarse_probs(h: int, w: int, boundary: float, softness: float) -> np.ndarray:
    """What an upsampled coarse score grid gives: a soft ramp, centred at the wrong column."""
    x = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    p1 = 1 / (1 + np.exp(-(x - boundary) / softness))
    return np.stack([1 - p1, p1]).astype(np.float16)


def test_a_misplaced_soft_boundary_snaps_to_the_colour_edge():
    image, truth = two_regions(edge=53)
    probs = coarse_probs(*truth.shape, boundary=62, softness=6)  # 9 px off, as from a stride-16 grid
    before = (probs.argmax(0) != truth).mean()
    labels, confidence, refined = edge_refine(image, probs, radius=16, want_probs=True)
    after = (labels != truth).mean()
    assert before > 0.07 and after < before / 3, (before, after)
    assert refined is not None and refined.shape == probs.shape and refined.dtype == np.float32
    assert np.allclose(refined.astype(np.float32).sum(0), 1, atol=1e-2) and refined.min() >= 0
    assert np.array_equal(refined.argmax(0), labels)
    assert confidence.shape == truth.shape and 0.5 <= confidence.min() and confidence.max() <= 1.0 + 1e-3


def test_subsampled_path_for_large_images_gives_the_same_boundary():
    image, truth = two_regions(h=300, w=400, edge=170)
    probs = coarse_probs(*truth.shape, boundary=185, softness=8)
    before = (probs.argmax(0) != truth).mean()
    labels, _, none = edge_refine(image, probs, radius=24, work_pixels=20_000)  # forces subsampling
    assert none is None and labels.shape == truth.shape
    assert (labels != truth).mean() < before / 2


def test_where_the_image_has_no_edge_a_confident_prediction_stays():
    image = np.full((64, 80, 3), 120, np.uint8)
    probs = np.zeros((3, 64, 80), np.float16)
    probs[2] = 0.9
    probs[0] = 0.1
    labels, confidence, _ = edge_refine(image, probs, radius=8)
    assert (labels == 2).all() and np.allclose(confidence, 0.9, atol=0.01)


def test_bad_shapes_are_refused_and_radius_counts_score_cells():
    with pytest.raises(ValueError, match="same size"):
        edge_refine(np.zeros((10, 10, 3), np.uint8), np.zeros((2, 10, 12), np.float32), radius=4)
    assert refine_radius(8, 0.5) == 16 and refine_radius(8, 1.0, cells=2) == 16 and refine_radius(32, 100.0) == 1


def test_scribbles_count_as_sparse_and_full_masks_do_not():
    assert sparse_labels([0.02, 0.05, 0.0, 0.0])
    assert not sparse_labels([1.0, 0.9, 0.0])
    assert not sparse_labels([0.0, 0.0])  # nothing painted: nothing to decide


@pytest.mark.parametrize("classes", [5, 11, 19])
def test_more_than_four_classes_at_a_non_integer_subsampling_factor(classes):
    """Issue 34 item 1: OpenCV refuses an area resize with a non-integer factor on more than 4
    channels, so a 1920x1080 photo with CamVid-11 classes got no snapped prediction."""
    h, w = 270, 480  # work_pixels below makes the factor 2.5 (not an integer)
    image, _ = two_regions(h=h, w=w, edge=200)
    rng = np.random.default_rng(0)
    probs = rng.random((classes, h, w), dtype=np.float32)
    probs[1, :, 200:] += 2.0  # class 1 right of the edge, class 0 left of it
    probs[0, :, :200] += 2.0
    probs /= probs.sum(0, keepdims=True)
    labels, confidence, refined = edge_refine(image, probs, radius=8, want_probs=True, work_pixels=20_736)
    assert labels.shape == (h, w) and refined is not None and refined.shape == probs.shape
    assert (labels[:, :190] == 0).all() and (labels[:, 210:] == 1).all()
