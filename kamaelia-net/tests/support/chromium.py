"""Headless Chromium driven over the DevTools protocol: what the tests that read a page as a
person would (the live view, an <audio> element) and the docs' screenshot share. A page that
holds a stream or /events open never finishes loading, so --dump-dom and --screenshot cannot
be used. Needs Debian's chromium and python3-websocket.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


class Chromium:
    """A headless browser with one page; `flags` are added to its command line."""

    def __init__(self, *flags):
        path = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                     if shutil.which(n)), None)
        if not path:
            sys.exit("no chromium on PATH")
        self.profile = tempfile.mkdtemp(prefix="kamaelia-chromium-")
        self.browser = subprocess.Popen(
            [path, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", *flags,
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline:
                self.close()
                sys.exit("chromium did not start")
            time.sleep(0.05)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.ids = iter(range(1, 1_000_000))

    def call(self, method, **params):
        """A DevTools command; returns its result."""
        my_id = next(self.ids)
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == my_id:
                return message.get("result", {})

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self):
        """The page's visible text."""
        return self.evaluate("document.body.innerText") or ""

    def close(self):
        self.browser.kill()
        self.browser.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
