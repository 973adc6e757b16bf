"""A labeling run killed with SIGKILL and resumed writes the same shards as an uninterrupted run."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from labeling import LabelIndex, LabelJob, LabelOptions, run_label_job
from labeling.index import INDEX_NAME
from tests.label_fixtures import BONES, synthetic_take

ROOT = Path(__file__).resolve().parent.parent
NUM_FRAMESETS, SHARD_SIZE = 600, 15  # 40 shards: the kill lands mid-run

JOB = textwrap.dedent(f"""
    import sys
    from labeling import LabelJob, LabelOptions, run_label_job
    from tests.label_fixtures import BONES, synthetic_take
    rig, _, detections = synthetic_take({NUM_FRAMESETS}, gross_fraction=0.1, missing_fraction=0.05, seed=11)
    job = LabelJob.create(rig, detections, options=LabelOptions(smoothing="savgol"), bones=BONES,
                          shard_size={SHARD_SIZE})
    run_label_job(job, sys.argv[1], resume=sys.argv[2] == "resume", progress=False)
""")


def _job(num_framesets=NUM_FRAMESETS):
    rig, _, detections = synthetic_take(num_framesets, gross_fraction=0.1, missing_fraction=0.05,
                                        seed=11)
    return LabelJob.create(rig, detections, options=LabelOptions(smoothing="savgol"), bones=BONES,
                           shard_size=SHARD_SIZE)


def _run(out, mode):
    return subprocess.Popen([sys.executable, "-c", JOB, str(out), mode], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _completed(out):
    try:
        return len(LabelIndex.read(out).shards)
    except (ValueError, OSError):
        return 0


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    killed = tmp_path / "killed"
    process = _run(killed, "fresh")
    deadline = time.monotonic() + 60
    while _completed(killed) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _completed(killed)
    assert 3 <= done < NUM_FRAMESETS // SHARD_SIZE, "the kill must land mid-run"
    assert _run(killed, "resume").wait(timeout=120) == 0
    resumed = LabelIndex.read(killed)

    whole = tmp_path / "whole"
    summary = run_label_job(_job(), whole, progress=False)
    uninterrupted = LabelIndex.read(whole)
    assert resumed.complete and uninterrupted.complete
    assert resumed.shards == uninterrupted.shards  # same files, counts and sha256
    assert resumed.job == uninterrupted.job
    assert summary.shards_written == NUM_FRAMESETS // SHARD_SIZE
    assert not list(killed.glob(".*tmp*"))  # the killed run's temporaries are gone


def test_resume_skips_complete_shards_and_rewrites_damaged_ones(tmp_path):
    job = _job(300)
    first = run_label_job(job, tmp_path, progress=False)
    assert first.shards_skipped == 0
    index = LabelIndex.read(tmp_path)
    (tmp_path / index.shards[5].file).write_bytes(b"not an hdf5 file")
    (tmp_path / index.shards[7].file).unlink()
    again = run_label_job(job, tmp_path, resume=True, progress=False)
    assert again.shards_written == 2 and again.shards_skipped == len(index.shards) - 2
    assert LabelIndex.read(tmp_path).shards == index.shards


def test_existing_output_needs_resume_and_the_same_job(tmp_path):
    rig, _, detections = synthetic_take(100, seed=12)
    job = LabelJob.create(rig, detections, shard_size=40)
    run_label_job(job, tmp_path, progress=False)
    with pytest.raises(ValueError, match="--resume"):
        run_label_job(job, tmp_path, progress=False)
    other = LabelJob.create(rig, detections, shard_size=40, options=LabelOptions(min_score=0.5))
    with pytest.raises(ValueError, match="different job"):
        run_label_job(other, tmp_path, resume=True, progress=False)
    assert (tmp_path / INDEX_NAME).is_file()


def test_shards_do_not_depend_on_where_the_take_is_cut(tmp_path):
    """Context framesets make smoothing identical across shard boundaries."""
    rig, _, detections = synthetic_take(150, noise_px=2.0, missing_fraction=0.05, seed=13)
    options = LabelOptions(smoothing="savgol", smoothing_window_frames=7)
    from labeling.shards import read_shard
    outputs = {}
    for size in (150, 37):
        out = tmp_path / str(size)
        run_label_job(LabelJob.create(rig, detections, options=options, shard_size=size), out,
                      progress=False)
        index = LabelIndex.read(out)
        outputs[size] = {k: np.concatenate([read_shard(out / e.file)[k] for e in index.shards])
                         for k in ("keypoints_3d", "valid", "reprojection_error_px")}
    for key, value in outputs[150].items():
        np.testing.assert_array_equal(outputs[37][key], value, err_msg=key)
