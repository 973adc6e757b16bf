"""``--executor ray``: the labeling job on a Ray cluster, with output identical to a local run.

One shard per task. The job (rig, detections, options) is put in the object store once; each
task receives only its shard number, computes the shard with the function the caller passes
(:func:`labeling.pipeline.label_shard`, exactly as a local run does), writes it in the worker's own temporary folder and returns the
file's bytes, so the cluster needs no shared file system: the driver writes each shard
atomically into the output folder and updates ``index.json`` as results arrive (so a killed
driver resumes like a local run). Failed tasks (a worker or node lost, an exception) are retried
``max_retries`` times. Shard bytes do not depend on where they were computed (no timestamps), so
the shards' sha256 equal the local run's.

Detection on recordings (sessions, video files, image folders) runs in detector actors (:func:`detect_chunks_with_ray`): the detector is
loaded once per actor, on a GPU when the cluster has GPUs (``num_gpus=1`` per actor), and each
call detects one chunk of framesets with the function the caller passes.

This module runs tasks; it imports none of its callers (they pass the task functions in).

Ray is an optional extra (``pip install 'rigkit[ray]'``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from rigkit_files import sha256_of_file, write_atomic

from .index import ShardEntry

__all__ = ["label_shards_with_ray", "detect_chunks_with_ray", "require_ray", "gpus_available"]

log = logging.getLogger(__name__)


def require_ray():
    """The ``ray`` module, or ValueError in one sentence when the extra is not installed."""
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'rigkit[ray]'") from None
    return ray


def gpus_available(ray) -> bool:
    """True when the connected cluster offers at least one GPU."""
    return ray.cluster_resources().get("GPU", 0) >= 1


ComputeShard = Callable[[object, int, str], ShardEntry]  # (job, shard, folder) -> entry of the file written


def _shard_bytes(compute: ComputeShard, job_or_ref, shard: int) -> tuple[ShardEntry, bytes]:
    """Ray task body: compute shard ``shard`` in a private folder and return (entry, bytes)."""
    with tempfile.TemporaryDirectory(prefix="rigkit-shard-") as folder:
        entry = compute(job_or_ref, shard, folder)
        return entry, (Path(folder) / entry.file).read_bytes()


def _connect(ray, address: str | None, num_cpus: int | None) -> bool:
    """Connect to (or start) Ray; returns True when this call started it (and must stop it)."""
    if ray.is_initialized():
        return False
    # Tasks import the labeling package from the driver's working tree when rigkit is not
    # installed on the workers.
    root = str(Path(__file__).resolve().parent.parent)
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}}
    ray.init(address=address, num_cpus=num_cpus if address is None else None,
             include_dashboard=False, log_to_driver=False, runtime_env=runtime_env,
             logging_level=logging.WARNING)
    return True


def label_shards_with_ray(job, shards: list[int], out_dir: str | os.PathLike, *, compute: ComputeShard,
                          address: str | None = None, num_cpus: int | None = None,
                          max_retries: int = 3, max_in_flight: int | None = None
                          ) -> Iterator[ShardEntry]:
    """Compute ``shards`` of ``job`` as Ray tasks; yield each entry once its file is in place.

    compute: ``compute(job, shard, folder) -> ShardEntry`` writes one shard into ``folder`` (a
        module-level function, so that Ray ships it by reference).

    address: Ray cluster address (None: a running Ray instance in this process, or a new local
        one with ``num_cpus``). max_in_flight: tasks submitted at once (default 2 per CPU), which
        bounds the results held in the object store.
    """
    ray = require_ray()
    out_dir = Path(out_dir)
    started = _connect(ray, address, num_cpus)
    try:
        remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=True)(_shard_bytes)
        job_ref = ray.put(job)
        limit = max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        pending: list = []
        queue = list(shards)
        while queue or pending:
            while queue and len(pending) < limit:
                pending.append(remote.remote(compute, job_ref, queue.pop(0)))
            done, pending = ray.wait(pending, num_returns=1)
            entry, data = ray.get(done[0])
            path = out_dir / entry.file
            write_atomic(path, data)
            if sha256_of_file(path) != entry.sha256:
                raise OSError(f"shard {entry.file} arrived from Ray with a wrong sha256")
            yield entry
    finally:
        if started:
            ray.shutdown()


class _DetectorWorker:
    """Ray actor body: the detector is loaded once, the recording opened once, per actor."""

    def __init__(self, recording, detector_spec: str, device: str | None, detect: Callable):
        from .detector import open_detector

        self.detector = open_detector(detector_spec, device=device)
        self.recording = recording.open()
        self.detect_chunk = detect

    def detect(self, chunk: int, start: int, stop: int):
        return chunk, self.detect_chunk(self.recording, self.detector, start, stop)


def detect_chunks_with_ray(recording, detector_spec: str, chunks: list[tuple[int, int, int]], *,
                           detect: Callable, device: str | None = None, address: str | None = None,
                           num_actors: int | None = None, max_retries: int = 3):
    """Detect ``chunks`` ``(chunk, start, stop)`` of a recording (a ``capture.pairing.
    RecordingSpec``: a session or video files / image folders) in Ray detector actors; yields
    ``(chunk, arrays)`` as they finish (any order). One actor per GPU when the cluster has GPUs
    (each holding one), else one per CPU; a lost actor is restarted and its calls retried.
    detect: ``detect(recording, detector, start, stop) -> arrays`` (a module-level function, e.g.
    :func:`labeling.session_labeling.detect_chunk`).
    The recording's files must be readable from every node (a shared file system)."""
    ray = require_ray()
    started = _connect(ray, address, None)
    try:
        gpus = gpus_available(ray)
        resources = ray.cluster_resources()
        count = num_actors or max(1, int(resources.get("GPU" if gpus else "CPU", 1)))
        actor_class = ray.remote(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1,
                                 max_restarts=max_retries, max_task_retries=max_retries)(_DetectorWorker)
        actors = [actor_class.remote(recording, detector_spec, device, detect)
                  for _ in range(min(count, max(1, len(chunks))))]
        pending = [actors[k % len(actors)].detect.remote(*chunk) for k, chunk in enumerate(chunks)]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()
