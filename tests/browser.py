"""A headless Chromium driven through the system chromedriver's W3C WebDriver HTTP API.

The least machinery: the distribution's ``chromium`` and ``chromium-driver`` packages and the
standard library (``urllib``, ``json``); no Selenium, no browser download. :func:`find_browser`
says why when there is none (tests skip with that reason).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["find_browser", "Browser", "KEYS", "CHROMIUM_FLAGS"]

KEYS = {"ArrowRight": "\ue014", "ArrowLeft": "\ue012", "Escape": "\ue00c", "Home": "\ue011", "End": "\ue010"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or the reason they cannot be used."""
    chromium = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"))
                     if p and os.path.exists(p)), None)
    driver = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and os.path.exists(p)), None)
    if chromium is None or driver is None:
        return ("no headless browser: install Debian's chromium and chromium-driver "
                "(apt-get install -y chromium chromium-driver)")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One browser session. Use as a context manager; every call raises on a WebDriver error."""

    def __init__(self, *, width: int = 1600, height: int = 1000, timeout_s: float = 30.0):
        found = find_browser()
        if isinstance(found, str):
            raise RuntimeError(found)
        chromium, driver = found
        self.port = _free_port()
        self._profile = tempfile.mkdtemp(prefix="rigkit-chromium-")
        self._driver = subprocess.Popen([driver, f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self._call("GET", "/status", timeout=2)["ready"]:
                    break
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        args = CHROMIUM_FLAGS + [f"--user-data-dir={self._profile}", f"--window-size={width},{height}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium, "args": args}}}}
        for attempt in range(2):  # a cold Chromium start on a loaded machine can miss the first deadline
            try:
                self.session = self._call("POST", "/session", caps, timeout=timeout_s)["sessionId"]
                break
            except (TimeoutError, OSError):
                if attempt:
                    self.close()
                    raise
            except Exception:
                self.close()
                raise

    def _call(self, method: str, path: str, body=None, *, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("value", {})
            raise RuntimeError(f"WebDriver {path}: {detail.get('error')}: {detail.get('message', '')[:300]}") from None

    def _s(self, path: str, body=None, method: str = "POST"):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._s("/url", {"url": url})

    def execute(self, script: str, *args):
        """Run ``script`` (a function body; ``arguments`` holds args) and return its value."""
        return self._s("/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, expression: str, *, timeout_s: float = 20.0, poll_s: float = 0.02):
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.execute(f"return ({expression});")
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied {expression!r}")
            time.sleep(poll_s)

    def press(self, *keys: str) -> None:
        """Key presses (names of :data:`KEYS` or single characters) sent to the page."""
        actions = []
        for key in keys:
            value = KEYS.get(key, key)
            actions += [{"type": "keyDown", "value": value}, {"type": "keyUp", "value": value}]
        self._s("/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def click(self, css: str) -> None:
        element = self._s("/element", {"using": "css selector", "value": css})
        self._s(f"/element/{next(iter(element.values()))}/click", {})

    def refresh(self) -> None:
        self._s("/refresh", {})

    def screenshot(self, path: str | os.PathLike) -> Path:
        png = base64.b64decode(self._s("/screenshot", method="GET"))
        Path(path).write_bytes(png)
        return Path(path)

    def close(self) -> None:
        if getattr(self, "session", None):
            try:
                self._call("DELETE", f"/session/{self.session}", timeout=10)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            self.session = None
        if self._driver.poll() is None:
            self._driver.terminate()
            try:
                self._driver.wait(10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
