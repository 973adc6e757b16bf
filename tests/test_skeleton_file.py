"""Custom skeletons from TOML."""

import pytest

from geometry.skeletons import Skeleton
from labeling.skeleton_file import read_skeleton_toml

MOUSE = """
name = "mouse_top"
joints = ["nose", "left_ear", "right_ear", "neck", "tail_base"]
bones = [["nose", "neck"], ["left_ear", "neck"], ["right_ear", "neck"], [3, 4]]
symmetric_pairs = [["left_ear", "right_ear"]]
"""


def test_reads_names_bones_and_pairs(tmp_path):
    path = tmp_path / "mouse.toml"
    path.write_text(MOUSE)
    skeleton = read_skeleton_toml(path)
    assert isinstance(skeleton, Skeleton)
    assert skeleton.name == "mouse_top"
    assert skeleton.joint_names == ("nose", "left_ear", "right_ear", "neck", "tail_base")
    assert skeleton.bones == ((0, 3), (1, 3), (2, 3), (3, 4))
    assert skeleton.symmetric_pairs == ((1, 2),)


def test_skeleton_table_and_default_name(tmp_path):
    path = tmp_path / "fly.toml"
    path.write_text('[skeleton]\njoints = ["head", "thorax"]\nbones = [["head", "thorax"]]\n')
    skeleton = read_skeleton_toml(path)
    assert skeleton.name == "fly" and skeleton.symmetric_pairs == ()


@pytest.mark.parametrize("text, message", [
    ('joints = ["a", "a"]', "repeat"),
    ('joints = ["a", "b"]\nbones = [["a", "c"]]', "'c'"),
    ('joints = ["a", "b"]\nbones = [["a", "a"]]', "itself"),
    ('joints = ["a", "b"]\nbones = [[0, 5]]', "index 5"),
    ('joints = ["a", "b"]\nbones = [["a", "b"], ["b", "a"]]', "twice"),
    ('joints = ["a", "b", "c"]\nsymmetric_pairs = [["a", "b"], ["b", "c"]]', "two symmetric_pairs"),
    ('joints = []', "non-empty"),
    ('joints = ["a"]\nlimbs = []', "unknown keys limbs"),
    ('joints = ["a"', "TOML"),
])
def test_mistakes_name_the_file(refusal, text, message):
    refused = refusal(read_skeleton_toml, text)
    assert message in refused and "bad.toml" in refused
