"""A live server for the `app` fixture and the system Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.conftest import chromium_path, require

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test app served on a free local port from a daemon thread; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def browser():
    """The system Chromium (never a downloaded browser), headless."""
    path = chromium_path()
    require(path is not None, "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Watched:
    """A page whose console errors, uncaught exceptions and 4xx/5xx responses are collected,
    with numbered screenshots saved under test-artifacts/browser/<test name>/."""

    def __init__(self, page, folder: Path, base_url: str) -> None:
        self.page = page
        self.folder = folder
        self.base_url = base_url
        self.errors: list[str] = []
        self.failed: list[tuple[str, str, int]] = []  # (method, path, status)
        self.step = 0
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        # Chromium logs every 4xx/5xx response as a console error, even a 422 the page
        # expects; those are in `failed`, where a test states which ones it expects.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")

    def _response(self, response) -> None:
        if response.status >= 400:
            path = response.url.removeprefix(self.base_url)
            self.failed.append((response.request.method, path, response.status))

    def shot(self, name: str) -> None:
        self.step += 1
        # caret="initial": hiding the caret would inject a <style> that our own CSP blocks.
        path = self.folder / f"{self.step:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True, caret="initial")


@pytest.fixture
def watched(browser, live_server, request) -> Iterator[Watched]:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(5000)
    page = context.new_page()
    try:
        yield Watched(page, folder, live_server)
    finally:
        context.close()
