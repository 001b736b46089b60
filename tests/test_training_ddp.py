"""The same ``train`` under ``torchrun`` with two gloo processes on the CPU: ranks stay identical."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path


from fcn_studio.training.toydata import write_folder

REPO = Path(__file__).resolve().parent.parent

DRIVER = textwrap.dedent(
    """
    import hashlib, os, sys
    from pathlib import Path
    from fcn_studio.data.labelset import LabelSet
    from fcn_studio.training import FolderSource, TrainCallbacks, TrainConfig, train

    root = Path(sys.argv[1])
    saved = []

    class Saves(TrainCallbacks):
        def on_checkpoint(self, path, metrics):
            saved.append(str(path))

    cfg = TrainConfig(backbone="resnet18", weights=None, epochs=None, max_steps=4, batch_size=2, crop_size=(32, 32),
                      scale=1.0, val_fraction=0, preview_every_s=None, min_epoch_steps=2, seed=0,
                      out=root / "ddp.fcnckpt", checkpoint_every_s=0.0)
    source = FolderSource(root / "images", root / "masks", LabelSet.load(root / "classes.json"))
    result = train(cfg, source, Saves())
    h = hashlib.sha256()
    for k, v in sorted(result.model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    rank = os.environ["RANK"]
    (root / f"rank{rank}.txt").write_text(
        f"{h.hexdigest()} {result.summary['step']} {result.summary['world_size']} {len(saved)} {result.summary['images_seen']}"
    )
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_end_with_identical_weights(tmp_path):  # noqa: ANN001
    write_folder(tmp_path, n=4, hw=(48, 64), seed=0)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(driver), str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = (tmp_path / "rank0.txt").read_text().split()
    r1 = (tmp_path / "rank1.txt").read_text().split()
    assert r0[0] == r1[0], "ranks ended with different weights"
    assert r0[1:3] == r1[1:3] == ["4", "2"]  # 4 steps each, world size 2
    assert int(r0[3]) >= 1 and r1[3] == "0"  # only rank 0 writes checkpoints
    assert r0[4] == "16"  # 4 steps x batch 2 x 2 processes
    from fcn_studio.models.checkpoint import load_checkpoint

    _, meta = load_checkpoint(tmp_path / "ddp.fcnckpt")
    assert meta.summary["world_size"] == 2
