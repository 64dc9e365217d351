"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): standard library only.

`open_page` loads a file as a person would open it and reports what they would see: the console errors, every
request the page made, the DOM's tables and images as the browser decoded them, and a screenshot.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What a person sees, read from the rendered DOM: table rows, and images that actually decoded.
PAGE_FACTS = """JSON.stringify({
  title: document.title,
  tableRows: document.querySelectorAll("table tbody tr").length,
  images: Array.from(document.images).map(img => ({src: img.src.slice(0, 30), width: img.naturalWidth,
                                                  complete: img.complete})),
  links: Array.from(document.querySelectorAll("a[href]")).map(a => a.getAttribute("href")),
  text: document.body.innerText,
  red: Array.from(document.querySelectorAll("td")).filter(td => getComputedStyle(td).color === "rgb(164, 0, 0)")
             .map(td => td.innerText),
})"""


def chromium() -> str | None:
    """Debian's `chromium` (or another build of it on PATH)."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


@dataclass
class PageVisit:
    facts: dict[str, Any]
    requests: list[str]  # every URL the page asked for, the page itself included
    errors: list[str]  # console errors, uncaught exceptions, failed loads
    screenshot: bytes  # PNG of the whole page


class DevTools:
    """One Chromium process and its DevTools pipe: messages are JSON, each ended by a NUL byte."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
                 "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
                 "--window-size=1280,900", f"--user-data-dir={profile}", "about:blank"]
        # The browser reads commands on fd 3 and writes answers on fd 4.
        self.process = subprocess.Popen(
            [executable, *flags], preexec_fn=_on_fds_3_and_4(to_browser_r, from_browser_w), close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params: Any) -> dict[str, Any]:
        sent = self._send(method, session, **params)
        answer = self._read_until(lambda m: m.get("id") == sent, timeout)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def _send(self, method: str, session: str | None, **params: Any) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def wait_for(self, *events: str, timeout: float = 60) -> dict[str, Any]:
        """The first of `events` since the last `events.clear()`."""
        seen = next((m for m in self.events if m.get("method") in events), None)
        return seen or self._read_until(lambda m: m.get("method") in events, timeout)

    def _read_until(self, wanted: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if message.get("method") == "Page.javascriptDialogOpening":  # else the page would hang on it
                    self._send("Page.handleJavaScriptDialog", message.get("sessionId"), accept=True)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):  # it may be gone already
            self.call("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _on_fds_3_and_4(read_end: int, write_end: int) -> Any:
    """For the child: the two pipe ends as fds 3 and 4, moved above 10 first so neither is overwritten."""

    def move() -> None:
        high_read, high_write = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10), fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
        os.dup2(high_read, 3)
        os.dup2(high_write, 4)

    return move


def open_page(executable: str, page: Path) -> PageVisit:
    """Load `page` from disk in a fresh headless Chromium and record what happened."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        browser = DevTools(executable, Path(profile))
        try:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                browser.call(f"{domain}.enable", session)
            browser.call("Page.navigate", session, url=page.resolve().as_uri())
            browser.wait_for("Page.loadEventFired")
            facts = browser.call("Runtime.evaluate", session, expression=PAGE_FACTS, returnByValue=True)
            size = browser.call("Page.getLayoutMetrics", session)["cssContentSize"]
            shot = browser.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        finally:
            browser.close()
    return PageVisit(json.loads(facts["result"]["value"]), _requests(browser.events), _errors(browser.events),
                     base64.b64decode(shot["data"]))


@dataclass
class Click:
    href: str  # the link as written in the page
    dialog: str | None  # the message of an alert/confirm/prompt the click opened: a script ran
    landed: str | None  # the URL the page navigated to


def click_every_link(executable: str, page: Path) -> list[Click]:
    """Load `page` afresh for each of its links, click the link as a person would, and record what followed: the
    first navigation or script dialog (a click always leads to one of them, so nothing is waited for by the clock)."""
    links = "document.querySelectorAll('a[href]')"
    clicks = []
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        browser = DevTools(executable, Path(profile))
        try:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime"):
                browser.call(f"{domain}.enable", session)
            index = 0
            while True:
                _load(browser, session, page.resolve().as_uri())
                href = browser.call("Runtime.evaluate", session, returnByValue=True,
                                    expression=f"{links}[{index}]?.getAttribute('href') ?? null")["result"]
                if href.get("value") is None:
                    return clicks
                browser.events.clear()
                browser.call("Runtime.evaluate", session, expression=f"{links}[{index}].click()")
                event = browser.wait_for("Page.frameNavigated", "Page.javascriptDialogOpening")
                dialog = event["params"]["message"] if event["method"] == "Page.javascriptDialogOpening" else None
                landed = event["params"]["frame"]["url"] if dialog is None else None
                clicks.append(Click(href["value"], dialog, landed))
                index += 1
        finally:
            browser.close()


def _load(browser: DevTools, session: str, uri: str) -> None:
    """Navigate to `uri` and return once that very page has loaded: the load event of the page a previous click
    opened may still arrive after the navigation starts, and must not count as this one's."""
    browser.events.clear()
    browser.call("Page.navigate", session, url=uri)
    while True:
        event = browser.wait_for("Page.loadEventFired")
        loaded = browser.call("Runtime.evaluate", session, returnByValue=True,
                              expression=f"document.readyState === 'complete' && location.href === {json.dumps(uri)}")
        if loaded["result"].get("value") is True:
            return
        browser.events.remove(event)  # a stale one: wait for the next


def _requests(events: list[dict[str, Any]]) -> list[str]:
    return [e["params"]["request"]["url"][:100] for e in events if e["method"] == "Network.requestWillBeSent"]


def _errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
        elif method == "Network.loadingFailed":
            errors.append(f"failed to load: {params.get('errorText')}")
    return errors
