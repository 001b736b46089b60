"""The model registry: complete, cheap to import, and its parameter counts are true."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fcn_studio.models import build_model, get_model_info, list_models
from fcn_studio.models.registry import BACKBONES, FCN_BACKBONES, FCN_VARIANTS


def test_lists_every_backbone_and_variant() -> None:
    infos = list_models()
    pairs = {(i.backbone, i.variant) for i in infos}
    assert pairs == {(b, v) for b in FCN_BACKBONES for v in FCN_VARIANTS} | {
        ("fcn_resnet50", "tv"),
        ("lraspp_mobilenet_v3_large", "tv"),
    }
    assert len({i.name for i in infos}) == len(infos)
    assert {i.backbone for i in infos} == set(BACKBONES)
    for info in infos:
        assert info.description and info.default_input_size == (360, 480)
        assert info.output_stride in (4, 8, 16, 32)
    assert get_model_info("vgg16", "fcn8s").output_stride == 8
    assert get_model_info("mobilenet_v3_large", "fcn4s").output_stride == 4
    assert get_model_info("vgg16", "FCN-16s").name == "vgg16-fcn16s"
    assert get_model_info("fcn_resnet50", None).variant == "tv"


@pytest.mark.parametrize("num_classes", [3, 21])
def test_parameter_counts_match_the_built_models(num_classes: int) -> None:
    for info in list_models():
        with torch.device("meta"):  # no memory, no init: counts only
            model = build_model(info.backbone, info.variant, num_classes=num_classes)
        actual = sum(p.numel() for p in model.parameters())
        assert info.num_params(num_classes) == actual, info.name


def test_listing_models_does_not_import_torch() -> None:
    code = (
        "import sys, json, fcn_studio.models as m; n = len(m.list_models()); "
        "print(json.dumps([n, 'torch' in sys.modules, 'torchvision' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [22, False, False]
