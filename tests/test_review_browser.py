"""``rigkit label review`` as a user meets it: the command, then the page in a real headless
Chromium (Debian's chromium + chromium-driver, driven over WebDriver's HTTP API by
``tests/browser.py``). Skipped, with the reason, where the browser is not installed.

The label set is made from a short recorded synthetic session (its frames are the real ones the
page shows) by ``labeling.review.demo_labels``: noise, gross detector errors, rejected joints, a
camera that drifts after 60% of the take.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from browser import Browser, find_browser

REPO = Path(__file__).resolve().parents[1]
BROWSER = find_browser()
pytestmark = pytest.mark.skipif(isinstance(BROWSER, str), reason=str(BROWSER))
PAINT_TIMEOUT_S = 60  # a loaded 2-core CI machine starts Chromium slowly


def _rig_file(folder: Path) -> Path:
    path = folder / "rig.toml"
    path.write_text('name = "review-test"\nfps = 15\nsegment_s = 0.5\n[synthetic]\nlayout = "ring"\n'
                    "num_cameras = 4\nseed = 3\nsize = [320, 240]\nboard_s = 0.5\nperson_s = 3.0\n"
                    'counter = false\nflicker = false\nscene = "rendered"\npace = "fast"\n')
    return path


@pytest.fixture(scope="module")
def label_set(tmp_path_factory):
    """22 framesets x 4 views of labels over a 2 s recorded session (3 shards of 8)."""
    from capture.recorder import RecordOptions, Recorder
    from capture.rigfile import load_rig_spec
    from labeling.review.demo_labels import write_labels_from_session

    folder = tmp_path_factory.mktemp("review")
    Recorder(load_rig_spec(_rig_file(folder)), folder / "session", RecordOptions(duration_s=2.0)).run()
    write_labels_from_session(folder / "session", folder / "labels", shard_size=8, drift_camera=2, seed=5)
    return folder / "labels"


@pytest.fixture()
def served(label_set):
    process = subprocess.Popen([sys.executable, "-m", "rigkit_cli", "label", "review", str(label_set),
                                "--no-browser"], cwd=REPO, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO), "RIGKIT_REVIEWER": "browser-test"})
    try:
        url = None
        for _ in range(5):
            found = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", process.stdout.readline())
            if found:
                url = found.group(0)
                break
        assert url, "the command printed no URL"
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _painted(browser, sample=None) -> dict:
    condition = "window.rigkit && window.rigkit.painted"
    if sample is not None:
        condition += f" && window.rigkit.painted.sample === {int(sample)}"
    return browser.wait_for(f"{condition} && window.rigkit.painted", timeout_s=PAINT_TIMEOUT_S)


def test_review_a_label_set_in_the_browser(label_set, served, tmp_path):
    from labeling.dataset import ShardDataset

    with Browser(width=1600, height=1000) as browser:
        browser.get(served)
        _painted(browser, 0)
        meta = browser.execute("return window.rigkit.state.meta;")
        assert meta["camera_names"] == ["cam01", "cam02", "cam03", "cam04"] and meta["has_frames"]
        # the 4 views show the session's frames (decoded in the page), not blank canvases
        assert browser.execute("return window.rigkit.state.images.map(x => !!x && x.width);") == [320] * 4
        # keyboard: next / previous frameset, next camera
        browser.press("ArrowRight")
        _painted(browser, 1)
        browser.press("ArrowLeft")
        _painted(browser, 0)
        browser.press("c", "c")
        assert browser.execute("return window.rigkit.state.camera;") == 2
        assert "current" in browser.execute("return document.getElementById('view-2').className;")
        # filter to the joints the gate rejected for too few inlier views, jump to the worst
        browser.click('#f-reason option[value="too_few_inlier_views"]')
        browser.wait_for("document.getElementById('f-reason').value === 'too_few_inlier_views' && "
                         "/matching/.test(document.getElementById('matches').textContent)", timeout_s=30)
        matches = browser.execute("return window.rigkit.state.list;")
        assert matches, "the demo label set has joints rejected for too few inlier views"
        first = _painted(browser, matches[0])["sample"]  # a new filter shows its worst match
        browser.press("n")
        sample = _painted(browser, matches[1] if len(matches) > 1 else first)["sample"]
        browser.press("p")
        _painted(browser, first)
        browser.press("n")
        _painted(browser, sample)
        frameset = browser.execute("return window.rigkit.state.data;")
        assert any("too_few_inlier_views" in reasons for reasons in frameset["reasons"])
        # reject a joint the gates kept (so the verdict changes what a trainer reads)
        joint = frameset["valid"].index(True)
        browser.press(*["j"] * (joint + 1))
        assert browser.execute("return window.rigkit.state.joint;") == joint
        browser.press("r")
        browser.wait_for("/saved/.test(document.getElementById('status').textContent)", timeout_s=30)
        # reload: the page comes back on the same frameset and shows the joint rejected
        browser.refresh()
        _painted(browser, sample)
        assert browser.execute("return window.rigkit.state.data.review_rejected;")[joint] is True
        assert browser.execute("return document.getElementById('f-reason').value;") == "too_few_inlier_views"
        browser.press(*["j"] * (joint + 1))
        info = browser.execute("return document.getElementById('joint-info').textContent;")
        assert "rejected by review" in info, info
        verdicts = browser.execute("return document.getElementById('verdicts').textContent;")
        assert "reject joint" in verdicts and "browser-test" in verdicts
        browser.wait_for("window.rigkit.state.summary", timeout_s=30)  # the timeline is drawn
        shot = browser.screenshot(tmp_path / "review_frameset.png")
        print(f"\nscreenshot of the frameset view: {shot}")
    # what a trainer reads
    reviewed, plain = ShardDataset(label_set), ShardDataset(label_set, review=False)
    assert bool(plain[sample]["valid"][joint]) and not bool(reviewed[sample]["valid"][joint])
    assert np.array_equal(np.delete(reviewed[sample]["valid"].numpy(), joint),
                          np.delete(plain[sample]["valid"].numpy(), joint))
    assert shot.stat().st_size > 20_000
