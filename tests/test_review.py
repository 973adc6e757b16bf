"""``rigkit label review``: the review file and how readers apply it, the server's checks
(token, no path outside the label set), and a review file that survives kill -9 mid-save.

The page itself is driven in a real browser in ``tests/test_review_browser.py``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import rigkit_cli
from label_fixtures import write_synthetic_output
from labeling.dataset import ShardDataset, ShardIterableDataset
from labeling.review import REVIEW_NAME, Review, Verdict, apply_review, load_review
from labeling.review.server import ReviewApp, make_server
from labeling.review.store import LabelStore, Query, run_query

REPO = Path(__file__).resolve().parents[1]
JOINTS = tuple(f"joint{j}" for j in range(9))  # write_synthetic_output's joint names


@pytest.fixture()
def labels(tmp_path):
    root = tmp_path / "labels"
    root.mkdir()
    index = write_synthetic_output(root, [40, 25], seed=3)
    return root, index


def test_rejected_labels_read_as_invalid_in_both_datasets(labels):
    root, index = labels
    plain = ShardDataset(root, review=False)
    sample = next(n for n in range(len(plain)) if bool(plain[n]["valid"][1]))
    whole = next(n for n in range(sample + 1, len(plain)) if bool(plain[n]["valid"].any()))
    review = Review(job_id=index.job_id)
    review = review.with_verdict(Verdict(sample=sample, level="joint", joint="joint1", verdict="reject", who="t"))
    review = review.with_verdict(Verdict(sample=whole, level="frameset", verdict="reject", who="t"))
    review.write(root)
    reviewed = ShardDataset(root)
    assert not bool(reviewed[sample]["valid"][1])
    assert np.all(reviewed[sample]["keypoints_3d"][1].numpy() == 0)  # masked like any invalid label
    others = np.ones(9, bool)
    others[1] = False
    assert np.array_equal(reviewed[sample]["valid"].numpy()[others], plain[sample]["valid"].numpy()[others])
    assert not reviewed[whole]["valid"].any()
    # every other sample is untouched
    rest = [n for n in range(len(plain)) if n not in (sample, whole)]
    batch_plain, batch_reviewed = plain.__getitems__(rest), reviewed.__getitems__(rest)
    assert np.array_equal(batch_plain.columns["valid"], batch_reviewed.columns["valid"])
    # only_valid drops a frameset the reviewer rejected whole
    assert len(ShardDataset(root, only_valid=True)) == len(ShardDataset(root, only_valid=True, review=False)) - 1
    # the iterable dataset (training's shuffling reader) applies it too
    by_sample = {int(s["sample"]): s for s in ShardIterableDataset(root, shuffle=False)}
    assert not bool(by_sample[sample]["valid"][1]) and not by_sample[whole]["valid"].any()


def test_the_most_specific_verdict_wins_and_accept_never_revives(labels):
    root, index = labels
    review = Review(job_id=index.job_id)
    review = review.with_verdict(Verdict(sample=3, level="frameset", verdict="reject"))
    review = review.with_verdict(Verdict(sample=3, level="joint", joint="joint4", verdict="accept"))
    rejected = review.rejected([3, 4], JOINTS)
    assert rejected[0].sum() == 8 and not rejected[0, 4] and not rejected[1].any()
    valid = np.zeros((1, 9), bool)
    assert not apply_review(valid, [3], review, JOINTS)[0, 4]  # accepting an invalid label keeps it invalid
    # a newer verdict on the same key replaces the older one
    review = review.with_verdict(Verdict(sample=3, level="frameset", verdict="accept"))
    assert len(review) == 2 and not review.rejected([3], JOINTS).any()


def test_a_review_of_other_shards_is_refused(labels):
    root, _ = labels
    Review(job_id="another-job", verdicts=(Verdict(sample=1, level="frameset", verdict="reject"),)).write(root)
    with pytest.raises(ValueError, match="another label set"):
        ShardDataset(root)
    with pytest.raises(ValueError, match="level"):
        Verdict(sample=0, level="camera", verdict="reject")


def test_queries_find_the_labels_they_name(labels):
    root, _ = labels
    store = LabelStore(root)
    summary = store.build_summary()
    N = store.num_samples
    out = run_query(summary, Query(reason="invalid", sort="take"), None, bins=10)
    expected = np.flatnonzero((~summary.valid).any(axis=1))
    assert out["samples"] == expected.tolist() and sum(out["marks"]) == expected.size
    out = run_query(summary, Query(reason="any", joint=2, min_residual_px=4.0), None)
    worst = summary.max_residual_px[out["samples"], 2].astype(float)
    assert np.all(worst >= 4.0) and np.all(np.diff(worst) <= 0)  # worst first
    assert out["total"] == int((summary.max_residual_px[:, 2].astype(float) >= 4.0).sum())
    rejected = np.zeros((N, 9), bool)
    rejected[7, 0] = True
    out = run_query(summary, Query(reason="invalid", joint=0, sort="take"), rejected)
    assert 7 in out["samples"]
    store.close()


# -- the server ---------------------------------------------------------------------------
@pytest.fixture()
def server(labels):
    root, _ = labels
    app = ReviewApp(root, who="tester")
    httpd = make_server(app)
    app.start_summary()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield app, httpd
    httpd.shutdown()
    httpd.server_close()
    app.close()


def _raw(httpd, path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    """The request line exactly as given (no client-side normalisation of the path)."""
    host, port = httpd.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.putheader("Content-Length", str(len(body or b"")))
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_it_binds_to_loopback_and_every_request_needs_the_token(server):
    app, httpd = server
    assert httpd.server_address[0] == "127.0.0.1"
    assert len(app.token) >= 32  # 24 random bytes, URL-safe
    for path in ("/", "/app.js", "/api/meta", "/api/frameset?sample=0", "/api/frame?sample=0&view=0",
                 "/api/summary", "/api/query?reason=invalid", f"/?token={app.token[:-1]}",
                 f"/?Token={app.token}", f"/?token={app.token}x", "/?token="):
        assert _raw(httpd, path)[0] == 403, path
    assert _raw(httpd, "/api/verdict", "POST", b'{"sample": 0, "level": "frameset", "verdict": "reject"}')[0] == 403
    assert not (app.root / REVIEW_NAME).exists()
    status, body = _raw(httpd, f"/?token={app.token}")
    assert status == 200 and b"rigkit label review" in body and app.token.encode() in body


def test_no_path_outside_the_label_set_can_be_read(server, tmp_path):
    app, httpd = server
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    t = f"token={app.token}"
    attempts = ["/../index.json", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/static/../../index.json", "//etc/passwd",
                "/etc/passwd", str(secret), "/" + os.path.relpath(secret, "/"), "/index.json",
                "/shard-00000.h5", "/review.json", "/app.js/../../index.json", "/..%2findex.json",
                "/%252e%252e/index.json", "/labeling/review/server.py", "/static/app.js", "/.%2e/index.json"]
    for path in attempts:
        status, body = _raw(httpd, f"{path}?{t}")
        assert status == 404, (path, status)
        assert b"top secret" not in body and b"root:" not in body and b"HDF" not in body
    for query in ("sample=../../etc/passwd", f"sample={secret}", "sample=-1", "sample=999999",
                  "sample=0&view=../../etc/passwd"):
        status, body = _raw(httpd, f"/api/frame?{query}&{t}")
        assert status in (400, 404), (query, status)
        if "view" not in query:
            status, _ = _raw(httpd, f"/api/frameset?{query}&{t}")
            assert status == 400, (query, status)


def test_an_index_naming_a_shard_outside_the_folder_is_refused(labels, tmp_path):
    root, _ = labels
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.replace(root / "shard-00001.h5", outside / "shard-00001.h5")
    os.symlink(outside / "shard-00001.h5", root / "shard-00001.h5")
    with pytest.raises(ValueError, match="outside the folder"):
        LabelStore(root)
    index = json.loads((root / "index.json").read_text())
    index["shards"][1]["file"] = "../elsewhere/shard-00001.h5"
    (root / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="outside the folder"):
        LabelStore(root)


def test_a_verdict_posted_is_saved_with_who_and_when(server):
    app, httpd = server
    body = json.dumps({"sample": 4, "level": "joint", "joint": "joint2", "verdict": "reject"}).encode()
    status, data = _raw(httpd, f"/api/verdict?token={app.token}", "POST", body)
    assert status == 200 and json.loads(data)["review_rejected"][2] is True
    saved = load_review(app.root)
    (verdict,) = saved.verdicts
    assert (verdict.sample, verdict.joint, verdict.verdict, verdict.who) == (4, "joint2", "reject", "tester")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", verdict.when)
    bad = json.dumps({"sample": 4, "level": "joint", "joint": "nope", "verdict": "reject"}).encode()
    assert _raw(httpd, f"/api/verdict?token={app.token}", "POST", bad)[0] == 400


def test_a_bad_folder_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert rigkit_cli.main(["label", "review", str(tmp_path / "missing"), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "no label index" in err and "Traceback" not in err


def test_a_bad_video_argument_is_one_sentence_and_exit_2(labels, capsys):
    root, _ = labels
    assert rigkit_cli.main(["label", "review", str(root), "--no-browser", "--video", "cam01"]) == 2
    assert "must be CAMERA=PATH" in capsys.readouterr().err
    assert rigkit_cli.main(["label", "review", str(root), "--no-browser", "--video", "zz=/no/such.mp4"]) == 2
    assert "no camera named zz" in capsys.readouterr().err


def test_another_host_is_served_with_a_warning(labels, tmp_path):
    root, _ = labels
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "w") as errors:
        process = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "rigkit_cli", "label", "review",
                                    str(root), "--host", "0.0.0.0", "--no-browser"], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=errors, text=True,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = []
    try:  # Ctrl-C once the server says where it listens (its third line)
        while len(lines) < 8 and not (lines and lines[-1].startswith("open ")):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack to stderr
            process.wait(10)
            code = "hung after Ctrl-C"
    # Ctrl-C stops it cleanly, even while the summary is being built
    assert code == 0, f"{code}; stdout {lines}; stderr:\n{stderr.read_text()[-6000:]}"
    warning = next(line for line in lines if "WARNING" in line)
    assert "0.0.0.0" in warning
    assert re.search(r"open http://0\.0\.0\.0:\d+/\?token=[\w-]{32}", lines[-1])


def test_ctrl_c_stops_a_server_started_with_sigint_ignored(labels):
    # A script's background job starts its children with SIGINT ignored; Python then installs no
    # KeyboardInterrupt handler, and before the fix the server sat in select() through any Ctrl-C.
    root, _ = labels
    process = subprocess.Popen([sys.executable, "-m", "rigkit_cli", "label", "review", str(root), "--no-browser"],
                               cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines = [process.stdout.readline() for _ in range(2)]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "hung after Ctrl-C"
    assert code == 0 and lines[-1].startswith("open "), (code, lines)


# -- kill -9 mid-save ------------------------------------------------------------------------
KILLS = 3  # kills at random moments while verdicts are being saved


def test_the_review_file_survives_kill_9_mid_save(tmp_path):
    root = tmp_path / "labels"
    root.mkdir()
    index = write_synthetic_output(root, [3000], seed=1)
    # a big review (each save rewrites ~1.5 MB), so most kills land inside a save
    review = Review(job_id=index.job_id, verdicts=tuple(
        Verdict(sample=n, level="joint", joint=f"joint{j}", verdict="reject", who="seed", when="2026-01-01T00:00:00Z")
        for n in range(1000) for j in range(9)))
    review.write(root)
    rng = np.random.default_rng(0)
    saver = ("import sys; from labeling.review.server import ReviewApp\n"
             "app = ReviewApp(sys.argv[1], who='saver')\nprint('ready', flush=True)\n"
             "n = 1000 + sum(v.level == 'frameset' for v in app.review.verdicts)\nwhile True:\n"
             "    app.set_verdict({'sample': n, 'level': 'frameset', 'verdict': 'reject'})\n"
             "    print(n, flush=True)\n    n += 1\n")
    acknowledged = len(review)
    for _ in range(KILLS):
        process = subprocess.Popen([sys.executable, "-c", saver, str(root)], cwd=REPO, stdout=subprocess.PIPE,
                                   text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert process.stdout.readline().strip() == "ready"
        first = process.stdout.readline().split()  # one save done: the saver is in its loop
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(process.pid, signal.SIGKILL)
        printed = first + process.stdout.read().split()
        process.wait()
        saved = load_review(root, job_id=index.job_id)  # parses: old or new file, never a torn one
        acknowledged += len(printed)
        assert acknowledged <= len(saved) <= acknowledged + 1
        acknowledged = len(saved)
    assert acknowledged > len(review)  # the saver did save between the kills


def test_camera_health_quantiles_match_numpy():
    from labeling.review.store import _row_quantiles

    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 9))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[4] = np.nan  # a bin without any residual
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanpercentile(values, [50, 90], axis=1)
    for got, want in zip(_row_quantiles(values, (0.5, 0.9)), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, equal_nan=True)


# -- frames from videos ----------------------------------------------------------------------
VIDEO_GREY_TOL = 6  # grey levels: mp4v + JPEG re-encoding of a flat frame


def test_frames_come_from_one_video_per_camera(labels, tmp_path):
    import cv2

    root, _ = labels
    videos = {}
    for v, name in enumerate(("cam01", "cam02")):
        path = tmp_path / f"{name}.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48))
        for k in range(30):  # frame k of camera v: flat grey (4 k + 60 v)
            writer.write(np.full((48, 64, 3), 4 * k + 60 * v, np.uint8))
        writer.release()
        videos[name] = str(path)
    from labeling.review.store import LabelStore

    names = LabelStore(root).camera_names
    videos = {names[v]: videos[f"cam0{v + 1}"] for v in range(2)}
    app = ReviewApp(root, videos=videos)
    try:
        assert app.meta()["has_frames"]
        for sample in (3, 4, 5, 20, 2, 29):  # in order, then seeks back and forth
            frame_index = int(app.store.sample_arrays(sample)["frame_index"])
            for v in range(2):
                image = cv2.imdecode(np.frombuffer(app.frame(sample, v), np.uint8), cv2.IMREAD_GRAYSCALE)
                assert abs(float(image.mean()) - (4 * frame_index + 60 * v)) < VIDEO_GREY_TOL, (sample, v)
            assert app.frame(sample, 2) is None  # no video for this camera: a blank canvas
        assert app.frame(40, 0) is None  # past the video's end
    finally:
        app.close()
    with pytest.raises(ValueError, match="no camera named"):
        ReviewApp(root, videos={"nope": videos[names[0]]})


def test_export_honours_the_review(labels, tmp_path):
    """`rigkit label export` leaves out what a reviewer rejected (--no-review keeps it)."""
    import rigkit_cli
    from labeling.export import read_labels, review_filter

    root, index = labels
    plain = read_labels(root)
    sample = int(np.flatnonzero(plain.valid[:, 2])[0])
    Review(job_id=index.job_id).with_verdict(
        Verdict(sample=sample, level="joint", joint="joint2", verdict="reject", who="t")).write(root)
    reviewed = read_labels(root, label_filter=review_filter)
    assert not reviewed.valid[sample, 2] and np.isnan(reviewed.keypoints_3d[sample, 2]).all()
    assert int(plain.valid.sum()) - int(reviewed.valid.sum()) == 1  # nothing else changed
    assert rigkit_cli.main(["-q", "label", "export", str(root), "--format", "npz",
                            "--out", str(tmp_path / "r.npz")]) == 0
    assert rigkit_cli.main(["-q", "label", "export", str(root), "--format", "npz", "--no-review",
                            "--out", str(tmp_path / "p.npz")]) == 0
    with np.load(tmp_path / "r.npz") as r, np.load(tmp_path / "p.npz") as p:
        assert int(p["valid"].sum()) - int(r["valid"].sum()) == 1
