"""``--executor ray`` on a local Ray instance writes byte-identical shards to the local run."""

import pytest

from labeling import LabelIndex, LabelJob, LabelOptions, run_label_job
from tests.label_fixtures import BONES, synthetic_take

ray = pytest.importorskip("ray", reason="ray is an optional extra (pip install 'rigkit[ray]')")


def test_ray_output_is_identical_to_local(tmp_path):
    rig, _, detections = synthetic_take(200, gross_fraction=0.1, missing_fraction=0.05, seed=31)
    job = LabelJob.create(rig, detections, options=LabelOptions(smoothing="savgol"), bones=BONES,
                          shard_size=50)
    run_label_job(job, tmp_path / "local", progress=False)
    # Resume on Ray after the local-style start of a run: shard 1 done by this process already.
    from labeling.pipeline import label_shard, prepare_output

    index, todo = prepare_output(job, tmp_path / "ray", resume=False)
    index.with_shard(label_shard(job, 1, tmp_path / "ray")).write(tmp_path / "ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_label_job(job, tmp_path / "ray", resume=True, executor="ray", progress=False)
    finally:
        ray.shutdown()
    assert summary.shards_written == 3 and summary.shards_skipped == 1
    local, remote = LabelIndex.read(tmp_path / "local"), LabelIndex.read(tmp_path / "ray")
    assert remote.complete and remote.shards == local.shards  # same bytes: same sha256
