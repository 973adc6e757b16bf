"""Custom skeletons from TOML: joint names, bones, left/right pairs -> ``geometry.skeletons.Skeleton``.

For animals, hands, props, or a detector with its own keypoints. The file::

    name = "mouse_top"                      # optional; default: the file name
    joints = ["nose", "left_ear", "right_ear", "neck", "tail_base"]
    bones = [["nose", "neck"], ["left_ear", "neck"], ["right_ear", "neck"], ["neck", "tail_base"]]
    symmetric_pairs = [["left_ear", "right_ear"]]   # optional: left/right partners

Bones and pairs name joints (or give their 0-based indices). The same keys may sit under a
``[skeleton]`` table. Every mistake is a ValueError naming the file and what is wrong.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

__all__ = ["read_skeleton_toml", "skeleton_from_dict"]


def read_skeleton_toml(path: str | Path):
    """The skeleton described by a TOML file (see the module docstring)."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: not a readable TOML file ({error})") from error
    if isinstance(document.get("skeleton"), dict):
        document = document["skeleton"]
    return skeleton_from_dict(document, default_name=path.stem, source=str(path))


def skeleton_from_dict(document: dict, *, default_name: str = "custom", source: str = "skeleton"):
    """A ``geometry.skeletons.Skeleton`` from the parsed TOML keys (see the module docstring)."""
    from geometry.skeletons import Skeleton

    unknown = sorted(set(document) - {"name", "joints", "bones", "symmetric_pairs"})
    if unknown:
        raise ValueError(f"{source}: unknown keys {', '.join(unknown)} (expected name, joints, "
                         "bones, symmetric_pairs)")
    joints = document.get("joints")
    if not isinstance(joints, list) or not joints or not all(isinstance(j, str) and j for j in joints):
        raise ValueError(f"{source}: 'joints' must be a non-empty list of joint names")
    repeated = sorted({j for j in joints if joints.count(j) > 1})
    if repeated:
        raise ValueError(f"{source}: joint names repeat: {', '.join(repeated)}")
    name = document.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{source}: 'name' must be a non-empty string")

    def index(joint, what: str) -> int:
        if isinstance(joint, bool):
            raise ValueError(f"{source}: {what} names {joint!r}, expected a joint name or index")
        if isinstance(joint, int):
            if not 0 <= joint < len(joints):
                raise ValueError(f"{source}: {what} uses joint index {joint}, expected 0..{len(joints) - 1}")
            return joint
        if joint not in joints:
            raise ValueError(f"{source}: {what} names joint {joint!r}, which is not in 'joints'")
        return joints.index(joint)

    def pairs(key: str) -> tuple[tuple[int, int], ...]:
        value = document.get(key, [])
        if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 2 for p in value):
            raise ValueError(f"{source}: '{key}' must be a list of [joint, joint] pairs")
        out = []
        for a, b in value:
            i, j = index(a, key), index(b, key)
            if i == j:
                raise ValueError(f"{source}: '{key}' pairs joint {joints[i]!r} with itself")
            out.append((i, j))
        if len({frozenset(p) for p in out}) != len(out):
            raise ValueError(f"{source}: '{key}' lists a pair twice")
        return tuple(out)

    bones = pairs("bones")
    symmetric = pairs("symmetric_pairs")
    used = [i for pair in symmetric for i in pair]
    if len(set(used)) != len(used):
        raise ValueError(f"{source}: a joint appears in two symmetric_pairs")
    return Skeleton(name=name, joint_names=tuple(joints), bones=bones, symmetric_pairs=symmetric)
