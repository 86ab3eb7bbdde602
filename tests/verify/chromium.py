"""Headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
commands on fd 3, answers and events on fd 4, each message JSON ended by a NUL byte). No port is
opened and no websocket library is needed.

What a page did is recorded from the browser's own events: every request it started
(``Network.requestWillBeSent``, the blocked ones included), console messages and uncaught
exceptions (``Runtime``), the browser's own log (``Log.entryAdded``: CSP violations, failed loads)
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


def find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageRun:
    url: str
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    value: Any = None  # what the page's probe script returned
    screenshot: bytes | None = None

    def errors(self) -> list[str]:
        return (
            [f"console.{level}: {text}" for level, text in self.console if level in ("error", "assert")]
            + [f"exception: {text}" for text in self.exceptions]
            + [f"log {level}: {text}" for level, text in self.log if level == "error"]
        )

    def external_requests(self) -> list[str]:
        """Requests for anything but the page itself and data: URLs."""
        return [u for u in self.requests if u != self.url and not u.startswith("data:")]


def _high(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Chromium:
    def __init__(self, binary: str, width: int = 1240, height: int = 900) -> None:
        self.profile = tempfile.mkdtemp(prefix="hitless-chromium-")
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()
        # Out of the way of 3 and 4, which the child dups them onto.
        to_browser, from_browser = (_high(fd) for fd in (to_browser, from_browser))

        def onto_3_and_4() -> None:
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            preexec_fn=onto_3_and_4,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self.width, self.height = width, height
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._commands)
        os.close(self._answers)
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- protocol ----------------------------------------------------------------------------------

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            # A browser that hangs must fail the test, not hang it.
            ready, _, _ = select.select([self._answers], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise OSError("chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        data: dict[str, Any] = json.loads(message)
        return data

    def send(self, method: str, session: str | None = None, timeout: float = 20, **params: Any) -> Any:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            command["sessionId"] = session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def _wait_event(self, method: str, session: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if any(e.get("method") == method and e.get("sessionId") == session for e in self._events):
                return
            self._events.append(self._read(deadline))

    # --- pages -------------------------------------------------------------------------------------

    def open(self, path: Path, probe: str | None = None, screenshot: bool = False) -> PageRun:
        """Load a file in a fresh tab, run ``probe`` (a JS expression whose value is returned as
        JSON) once it has loaded, and record everything the page did."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self._events.clear()
        url = path.resolve().as_uri()
        self.send("Page.navigate", session, url=url)
        self._wait_event("Page.loadEventFired", session)
        run = PageRun(url)
        if probe is not None:
            result = self.send("Runtime.evaluate", session, expression=probe, returnByValue=True)
            if "exceptionDetails" in result:
                run.exceptions.append(str(result["exceptionDetails"]))
            else:
                run.value = json.loads(result["result"]["value"])
        if screenshot:
            size = self.send("Runtime.evaluate", session, expression="document.body.scrollHeight")
            height = int(size["result"]["value"])
            shot = self.send(
                "Page.captureScreenshot",
                session,
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1},
            )
            run.screenshot = base64.b64decode(shot["data"])
        # A round trip after the probe: events the page caused so far are in.
        self.send("Runtime.evaluate", session, expression="0")
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            params = event.get("params", {})
            method = event.get("method")
            if method == "Network.requestWillBeSent":
                run.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                run.console.append((params.get("type", ""), text))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                thrown = details.get("exception", {}).get("description", "")
                run.exceptions.append(f"{details.get('text')} {thrown}".strip())
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                run.log.append((entry.get("level", ""), entry.get("text", "")))
        self.send("Target.closeTarget", targetId=target)
        return run
