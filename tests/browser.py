"""Headless Chromium driven over the DevTools protocol: open a page, keep it, ask it things.

The page stays open between questions, so a test can change the data behind a live page
and see the change arrive without a reload. Chromium is Debian's ``chromium``
(installed by scripts/setup.sh); a browser that cannot start FAILS the test.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websocket

from .services import free_port, stop, wait_for


class Page:
    """One browser tab, spoken to with DevTools commands."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=30)
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (events in between are skipped)."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 60.0) -> Any:
        """Poll until the expression is truthy; fail with its last value otherwise."""
        deadline, value = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.5)
        pytest.fail(f"page never satisfied {expression!r} (last value {value!r})")

    def screenshot(self, path: Path) -> Path:
        """Save the whole page as PNG."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


@contextmanager
def chromium(url: str, profile: Path) -> Iterator[Page]:
    """Headless Chromium showing ``url``; stopped (by pid) afterwards."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed: run scripts/setup.sh (it installs it)")
    port = free_port()
    log = profile / "chromium.log"
    profile.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
           "--window-size=1400,1000", url]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _targets(port) is not None, "chromium", [log], [proc])
        targets = _targets(port) or []
        page = Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        try:
            yield page
        finally:
            page.ws.close()
    finally:
        stop([proc])


def _targets(port: int) -> list[dict[str, Any]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
            found: list[dict[str, Any]] = json.loads(r.read())
    except OSError:
        return None
    return found if any(t["type"] == "page" for t in found) else None
