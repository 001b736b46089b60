import json

import pytest

from fcn_studio.data.labelset import UNPAINTED, LabelClass, LabelSet, load_preset, preset_names
from fcn_studio.errors import LabelSetError


def test_presets_exist_and_load():
    names = preset_names()
    for required in ("road", "camvid11", "cityscapes19"):
        assert required in names
    assert load_preset("road").num_classes == 2
    assert load_preset("cityscapes19").num_classes == 19
    camvid = load_preset("camvid11")
    assert camvid.ignore_index == 11 and camvid.num_classes == 11
    assert camvid.ignored_values == (UNPAINTED, 11)


def test_round_trip_keeps_everything(tmp_path):
    ls = LabelSet.from_json(
        {"name": "x", "ignore_index": 2, "classes": [
            {"id": 0, "name": "a", "color": [1, 2, 3]},
            {"id": 1, "name": "b", "color": [4, 5, 6]},
            {"id": 2, "name": "void", "color": [0, 0, 0]}],
         "comment": "kept"})
    path = tmp_path / "ls.json"
    ls.save(path)
    again = LabelSet.load(path)
    assert again == ls
    assert json.loads(path.read_text())["comment"] == "kept"
    assert again.by_id(1) == LabelClass(1, "b", (4, 5, 6))


def test_camvid_file_format_is_read(camvid_dir):
    ls = LabelSet.load(camvid_dir / "classes.json")
    assert ls.name == "CamVid-11" and ls.num_classes == 11 and ls.by_id(3).name == "Road"


def test_palette_and_lut():
    ls = load_preset("road")
    lut = ls.color_lut()
    assert tuple(lut[1]) == (255, 0, 255) and tuple(lut[0]) == (255, 0, 0)
    assert len(ls.palette()) == 768
    valid = ls.valid_values()
    assert valid[0] and valid[1] and valid[UNPAINTED] and not valid[2]


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"classes": []}, "non-empty"),
        ({"classes": [{"id": 0, "name": "a"}]}, "color"),
        ({"classes": [{"id": 0, "name": "a", "color": [0, 0, 0]}, {"id": 0, "name": "b", "color": [0, 0, 0]}]}, "repeat"),
        ({"classes": [{"id": 0, "name": "a", "color": [0, 0, 0]}, {"id": 2, "name": "b", "color": [0, 0, 0]}]}, "0..K-1"),
        ({"classes": [{"id": 255, "name": "a", "color": [0, 0, 0]}]}, "0..254"),
    ],
)
def test_bad_label_sets_are_refused(bad, words):
    with pytest.raises(LabelSetError, match=words.replace(".", r"\.")):
        LabelSet.from_json(bad)


def test_unreadable_file_message(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text("{nope")
    with pytest.raises(LabelSetError, match="broken.json"):
        LabelSet.load(p)
