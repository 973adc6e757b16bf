"""``rigkit demo --people N``: several people in the rig, from a detector's JSON files to one track each.

A seeded synthetic take (:func:`geometry.synthetic.crowd_motion`: N people walking, crossing
and hiding each other in a ring of cameras) goes through a multi-person detector's noise model
(:func:`geometry.synthetic.simulate_crowd_detections`: 2 px noise, 10% gross errors, left/right
swaps, per-view tracker swaps, about one false detection per view and frame) and is written as
OpenPose JSON in the Pose2Sim layout with the calibration beside it (:func:`write_openpose_take`,
:func:`write_crowd_take`); then ``rigkit label --detections openpose:DIR --max-people N``'s own
path reads it back, associates, triangulates, gates and writes shards; the run ends with one
screen against the truth (:func:`evaluate_people`) and a picture of the tracks
(``report/tracks.png``: top view of each person's labeled path over the truth, and who was seen
when, with the framesets where identity was uncertain).

The images, capture and calibration stages of the single-person demo are not repeated here:
this demo starts where a multi-person detector's output starts.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PeopleDemoOptions", "PeopleDemoResult", "PeopleEvaluation", "write_openpose_take",
           "write_crowd_take", "evaluate_people", "run_people_demo", "crowd_take"]

log = logging.getLogger(__name__)


def write_openpose_take(root: str | Path, points_2d: np.ndarray, scores: np.ndarray, *,
                        camera_names, track_hint: np.ndarray | None = None,
                        first_frame: int = 0) -> Path:
    """Write candidates as OpenPose JSON in the Pose2Sim layout (one folder per camera).

    points_2d: (V, F, S, J, 2) pixels, NaN where missing; scores: (V, F, S, J).
    track_hint: (V, F, S) the detector's own track ids written as ``person_id`` (-1 unknown).
    Empty slots are left out of ``people``; a missing joint is written ``0, 0, 0`` (OpenPose's own
    convention). Returns ``root``.
    """
    root = Path(root)
    V, F, S, J, _ = points_2d.shape
    for v, camera in enumerate(camera_names):
        folder = root / f"{camera}_json"
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(F):
            people = []
            for s in range(S):
                xy = points_2d[v, f, s]
                if not np.isfinite(xy).any():
                    continue
                c = np.where(np.isfinite(xy).all(axis=-1), np.nan_to_num(scores[v, f, s]), 0.0)
                triples = np.concatenate([np.nan_to_num(xy), c[:, None]], axis=1)
                hint = -1 if track_hint is None else int(track_hint[v, f, s])
                people.append({"person_id": [hint],
                               "pose_keypoints_2d": [round(float(x), 3) for x in triples.ravel()],
                               "face_keypoints_2d": [], "hand_left_keypoints_2d": [],
                               "hand_right_keypoints_2d": [], "pose_keypoints_3d": []})
            name = f"{camera}_{first_frame + f:012d}_keypoints.json"
            (folder / name).write_text(json.dumps({"version": 1.3, "people": people}))
    return root


def crowd_take(num_people: int, *, cameras: int = 4, frames: int = 300, fps: float = 30.0,
               seed: int = 0, size: tuple[int, int] = (1280, 720), noise=None):
    """A seeded multi-person take: ``(rig, crowd motion, crowd detections)``."""
    from geometry.synthetic import CrowdNoise, CrowdOptions, crowd_motion, ring_rig, simulate_crowd_detections

    rng = np.random.default_rng(seed)
    rig = ring_rig(cameras, rng=rng, size=size)
    crowd = crowd_motion(frames, rng=rng, fps=fps, options=CrowdOptions(num_people=num_people))
    detections = simulate_crowd_detections(rig, crowd, noise=noise or CrowdNoise(), rng=rng)
    return rig, crowd, detections


def write_crowd_take(root: str | Path, rig, detections) -> tuple[Path, Path]:
    """The take's calibration (``root/calibration.toml``) and OpenPose JSON (``root/openpose/``)."""
    from calibration import save_rig

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    calibration = save_rig(rig, root / "calibration.toml")
    folder = write_openpose_take(root / "openpose", detections.points_2d, detections.scores,
                                 camera_names=rig.names, track_hint=detections.track_hint)
    return calibration, folder


@dataclass(frozen=True, kw_only=True)
class PeopleEvaluation:
    """Labels of several people against the synthetic truth.

    people_true, tracks_found: P and T. person_of_track: (T,) the true person each track follows
    (majority of its candidates; -1 if mostly false detections).
    identity_switches: changes of the track that holds a true person between framesets where the
    person is reported by two or more views (MOT-style), summed over people; person_framesets:
    those framesets. mpjpe_mm / oracle_mm: (P,) mean 3D error of the joints both accept, ours and
    an oracle that knows the true assignment (same triangulation and gates); accepted_two_views:
    share of joints with two or more correct views that we accept.
    """

    people_true: int
    tracks_found: int
    person_of_track: np.ndarray
    identity_switches: int
    person_framesets: int
    mpjpe_mm: np.ndarray
    oracle_mm: np.ndarray
    accepted_two_views: float

    @property
    def switches_per_1000(self) -> float:
        return 1000.0 * self.identity_switches / max(self.person_framesets, 1)

    @property
    def worst_ratio(self) -> float:
        ratios = self.mpjpe_mm / self.oracle_mm
        return float(np.nanmax(ratios)) if np.isfinite(ratios).any() else float("nan")


def evaluate_people(rig, crowd, detections, chosen: np.ndarray, labels: dict, *, options,
                    bones=None) -> PeopleEvaluation:
    """Score labels of every person against the truth of a synthetic crowd.

    chosen: (T, V, F) the association's candidates; labels: ``keypoints_3d (N, J, 3)``,
    ``valid (N, J)``, ``person_id (N,)``, ``position (N,)`` (frameset positions).
    options, bones: the labeling options used, for the oracle.
    """
    from labeling.detections import Detections
    from labeling.pseudo_labels import compute_pseudo_labels

    truth = crowd.joints_in_world  # (P, F, J, 3)
    P, F, J, _ = truth.shape
    T, V, _ = chosen.shape
    identity = detections.identity  # (V, F, S)
    views = np.arange(V)[None, :, None]
    frames = np.arange(F)[None, None, :]
    held = np.where(chosen >= 0, identity[views, frames, np.clip(chosen, 0, None)], -2)  # (T, V, F)
    person_of_track = np.full(T, -1, dtype=np.int64)
    for t in range(T):
        ids, counts = np.unique(held[t][held[t] >= 0], return_counts=True)
        if ids.size:
            person_of_track[t] = ids[np.argmax(counts)]
    # Identity switches per true person, where it is reported by >= 2 views.
    reported = (identity[None] == np.arange(P)[:, None, None, None]).any(axis=-1)  # (P, V, F)
    countable = reported.sum(axis=1) >= 2  # (P, F)
    votes = (held[None] == np.arange(P)[:, None, None, None]).sum(axis=2)  # (P, T, F)
    switches = 0
    for p in range(P):
        holder = np.where(votes[p].max(axis=0) > 0, np.argmax(votes[p], axis=0), -1)
        sequence = holder[countable[p] & (holder >= 0)]
        switches += int((sequence[1:] != sequence[:-1]).sum())
    # Our labels per true person, frameset by frameset.
    ours = np.full((P, F, J, 3), np.nan)
    person = np.asarray(labels["person_id"])
    position = np.asarray(labels["position"])
    true_person = person_of_track[person]
    keep = true_person >= 0
    accepted_points = np.where(labels["valid"][..., None], labels["keypoints_3d"], np.nan)
    ours[true_person[keep], position[keep]] = accepted_points[keep]
    # The oracle: the true candidate of each view, same triangulation and gates.
    mpjpe, oracle_mm = np.full(P, np.nan), np.full(P, np.nan)
    for p in range(P):
        slot = np.where(identity == p, np.arange(identity.shape[-1])[None, None], -1).max(axis=-1)  # (V, F)
        index = np.clip(slot, 0, None)
        pts = np.take_along_axis(detections.points_2d, index[..., None, None, None], 2)[:, :, 0]
        sc = np.take_along_axis(detections.scores, index[..., None, None], 2)[:, :, 0]
        pts = np.where((slot >= 0)[..., None, None], pts, np.nan)
        sc = np.where((slot >= 0)[..., None], sc, np.nan)
        oracle = compute_pseudo_labels(rig, Detections(
            points_2d=pts, scores=sc, camera_names=rig.names, joint_names=crowd.skeleton.joint_names,
            frame_index=np.arange(F), timestamp_s=np.arange(F) / crowd.fps), options=options, bones=bones)
        oracle_points = np.where(oracle.valid[..., None], oracle.keypoints_3d, np.nan)
        ours_err = np.linalg.norm(ours[p] - truth[p], axis=-1)
        oracle_err = np.linalg.norm(oracle_points - truth[p], axis=-1)
        both = np.isfinite(ours_err) & np.isfinite(oracle_err)
        if both.any():
            mpjpe[p] = 1000 * ours_err[both].mean()
            oracle_mm[p] = 1000 * oracle_err[both].mean()
    two_ok = detections.correct.sum(axis=1) >= 2  # (P, F, J)
    accepted = np.isfinite(ours).all(axis=-1)
    return PeopleEvaluation(people_true=P, tracks_found=T, person_of_track=person_of_track,
                            identity_switches=switches, person_framesets=int(countable.sum()),
                            mpjpe_mm=mpjpe, oracle_mm=oracle_mm,
                            accepted_two_views=float(accepted[two_ok].mean()) if two_ok.any() else float("nan"))


@dataclass(frozen=True, kw_only=True)
class PeopleDemoOptions:
    """people: 2..5 people; cameras: 4..8; seconds and fps of the take; seed."""

    people: int = 3
    cameras: int = 4
    seconds: float = 10.0
    fps: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.people <= 5:
            raise ValueError(f"--people is {self.people}, expected 2 to 5 (1: the default demo)")
        if not 4 <= self.cameras <= 8:
            raise ValueError(f"--cameras is {self.cameras}, expected 4 to 8")
        if not 1 <= self.seconds * self.fps <= 20000:
            raise ValueError(f"{self.seconds:g} s at {self.fps:g} fps is not a take this demo runs "
                             "(1 to 20,000 framesets)")


@dataclass(frozen=True, kw_only=True)
class PeopleDemoResult:
    options: PeopleDemoOptions
    evaluation: PeopleEvaluation
    tracks: tuple[dict, ...]
    out: Path
    picture: Path
    seconds: float
    label_seconds: float

    def summary(self) -> str:
        o, e = self.options, self.evaluation
        frames = int(round(o.seconds * o.fps))
        lines = [f"rigkit demo --people {o.people}: {o.cameras} cameras, {frames} framesets "
                 f"({o.seconds:g} s at {o.fps:g} fps), finished in {self.seconds:.0f} s",
                 f"  association  {e.tracks_found} tracks for {e.people_true} people; "
                 f"{e.identity_switches} identity switches in {e.person_framesets:,} "
                 f"person-framesets seen by 2+ views ({e.switches_per_1000:.2f} per 1,000)",
                 f"  labels       {e.accepted_two_views:.1%} of joints with 2+ correct views accepted; "
                 f"rigkit label end to end {frames / max(self.label_seconds, 1e-9):,.0f} framesets/s "
                 f"(reading the JSON, association, triangulation, gating, shards)",
                 f"  {'person':<7} {'track':>5} {'framesets':>9} {'accepted':>9} {'uncertain':>9} "
                 f"{'MPJPE mm':>9} {'oracle mm':>9}"]
        for track in self.tracks:
            t = track["person_id"]
            p = int(e.person_of_track[t]) if t < len(e.person_of_track) else -1
            ours = e.mpjpe_mm[p] if p >= 0 else float("nan")
            oracle = e.oracle_mm[p] if p >= 0 else float("nan")
            lines.append(f"  {p:<7} {t:>5} {track['num_framesets']:>9} {track['mean_acceptance']:>9.1%} "
                         f"{track['uncertain_framesets']:>9} {ours:>9.1f} {oracle:>9.1f}")
        lines.append(f"  outputs      {self.out / 'take'} (calibration.toml, openpose/), "
                     f"{self.out / 'labels'} (shards + index.json), {self.picture}")
        lines.append("  (person: the true person a track follows; oracle: the same triangulation and "
                     "gates on the true assignment)")
        return "\n".join(lines)


def run_people_demo(out: str | Path, options: PeopleDemoOptions = PeopleDemoOptions(), *,
                    progress: bool = False, on_stage=None) -> PeopleDemoResult:
    """Write the take, label it as ``rigkit label --max-people`` does, evaluate, draw."""
    from calibration import load_rig

    from ..cli import bones_from_skeleton, load_people_arg
    from ..association import AssociationOptions
    from ..pipeline import LabelJob, run_label_job
    from ..pseudo_labels import LabelOptions
    from ..shards import read_shard
    from ..index import LabelIndex

    say = on_stage or (lambda text: log.info("%s", text))
    started = time.perf_counter()
    out = Path(out)
    if (out / "labels").exists():
        raise ValueError(f"{out} already holds a --people demo run; choose an empty --out folder")
    frames = int(round(options.seconds * options.fps))
    say(f"[1/3] a take of {options.people} people in {options.cameras} cameras ({frames} framesets), "
        "written as OpenPose JSON with its calibration")
    rig, crowd, detections = crowd_take(options.people, cameras=options.cameras, frames=frames,
                                        fps=options.fps, seed=options.seed)
    calibration, folder = write_crowd_take(out / "take", rig, detections)
    say(f"[2/3] rigkit label --detections openpose:{folder} --max-people {options.people}")
    from ..people import compile_association_kernels

    compile_association_kernels(notify=lambda message: say(f"rigkit: {message}"))
    label_started = time.perf_counter()
    rig = load_rig(calibration)
    association = AssociationOptions(max_people=options.people)
    samples = load_people_arg(f"openpose:{folder}", rig=rig, association=association)
    bones, skeleton = bones_from_skeleton(samples.detections.joint_names, None)
    label_options = LabelOptions()
    job = LabelJob.create(rig, samples, options=label_options, bones=bones,
                          provenance={"calibration": str(calibration), "detections": f"openpose:{folder}",
                                      "skeleton": skeleton, "association": association.to_json()})
    summary = run_label_job(job, out / "labels", progress=progress)
    label_seconds = time.perf_counter() - label_started
    say("[3/3] evaluation against the synthetic truth, picture of the tracks")
    index = LabelIndex.read(out / "labels")
    parts = [read_shard(out / "labels" / entry.file, fields=("keypoints_3d", "valid", "person_id",
                                                            "frame_index", "identity_uncertain"))
             for entry in index.shards]
    labels = {name: np.concatenate([p[name] for p in parts]) for name in parts[0] if name not in
              ("attributes", "rig")}
    labels["position"] = labels["frame_index"]  # frames are numbered from 0 in this take
    chosen = _chosen_from_samples(samples, len(summary.tracks), rig, frames)
    evaluation = evaluate_people(rig, crowd, detections, chosen, labels, options=label_options,
                                 bones=bones)
    (out / "report").mkdir(parents=True, exist_ok=True)
    picture = draw_tracks(out / "report" / "tracks.png", crowd, labels, evaluation)
    return PeopleDemoResult(options=options, evaluation=evaluation, tracks=summary.tracks, out=out,
                            picture=picture, seconds=time.perf_counter() - started,
                            label_seconds=label_seconds)


def _chosen_from_samples(samples, num_tracks: int, rig, frames: int) -> np.ndarray:
    """(T, V, F) candidate per track, view and frameset from the samples."""
    chosen = np.full((num_tracks, len(rig), frames), -1, dtype=np.int64)
    chosen[samples.person_id, :, samples.position] = samples.candidate.T
    return chosen


def _hip_joints(joint_names) -> list[int]:
    """Indices of the hip joints (mid-hip for the path), else every joint."""
    hips = [j for j, name in enumerate(joint_names) if name in ("left_hip", "right_hip", "mid_hip")]
    return hips or list(range(len(joint_names)))


def draw_tracks(path: Path, crowd, labels: dict, evaluation: PeopleEvaluation) -> Path:
    """Top view of every person's labeled path over the truth, and who was labeled when."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = crowd.joints_in_world
    P, F = truth.shape[:2]
    person = labels["person_id"]
    frame = labels["frame_index"]
    T = int(person.max()) + 1 if person.size else 0
    colours = plt.get_cmap("tab10")
    figure, (top, timeline) = plt.subplots(1, 2, figsize=(13, 5.5),
                                           gridspec_kw={"width_ratios": [1, 1.4]})
    hips = _hip_joints(crowd.skeleton.joint_names)  # the path drawn: mid-hip, truth and labels
    for p in range(P):
        walked = truth[p][:, hips].mean(axis=1)
        top.plot(walked[:, 0], walked[:, 1], color="0.75", linewidth=4, zorder=1,
                 label="truth" if p == 0 else None)
    for t in range(T):
        mine = person == t
        points = np.where(labels["valid"][mine][..., None], labels["keypoints_3d"][mine], np.nan)
        centre = points[:, hips].mean(axis=1)  # NaN unless every hip joint was accepted
        top.plot(centre[:, 0], centre[:, 1], ".", markersize=2.5, color=colours(t % 10), zorder=2,
                 label=f"person {t}")
        timeline.plot(frame[mine], np.full(mine.sum(), t), "|", color=colours(t % 10), markersize=12)
        unsure = mine & labels["identity_uncertain"]
        timeline.plot(frame[unsure], np.full(unsure.sum(), t + 0.3), "v", color="red", markersize=4,
                      label="identity uncertain" if t == 0 else None)
    top.set_aspect("equal")
    top.set_xlabel("x (m)")
    top.set_ylabel("y (m)")
    top.set_title("top view: labeled mid-hip paths (accepted hips) over the truth")
    top.legend(loc="upper right", fontsize=8)
    timeline.set_xlabel("frameset")
    timeline.set_ylabel("person (track)")
    timeline.set_yticks(range(T))
    timeline.set_xlim(-1, F)
    timeline.set_ylim(-0.7, max(T, 1) - 0.3 + 0.5)
    timeline.set_title(f"who was labeled when ({evaluation.identity_switches} identity switches, "
                       f"{int(labels['identity_uncertain'].sum())} uncertain samples)")
    timeline.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
