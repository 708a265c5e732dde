"""Captures a page as a person sees it, in headless Chromium over the DevTools protocol (a page
that holds /events open never finishes loading, so --screenshot cannot wait for it).

usage: capture.py URL OUT.png [WIDTH HEIGHT]
Waits until the live view says it is live, opens every folded group, waits a second for the
next update, and writes a PNG of the whole page. Needs Debian's chromium and python3-websocket.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def main():
    url, out = sys.argv[1], sys.argv[2]
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1400
    height = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    browser_path = next((shutil.which(n) for n in ("chromium", "chromium-browser",
                                                      "google-chrome") if shutil.which(n)), None)
    if not browser_path:
        sys.exit("no chromium on PATH")
    profile = tempfile.mkdtemp(prefix="kamaelia-shot-")
    browser = subprocess.Popen(
        [browser_path, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--hide-scrollbars", f"--window-size={width},{height}", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline:
                sys.exit("chromium did not start")
            time.sleep(0.05)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        ids = iter(range(1, 1_000_000))

        def call(method, **params):
            my_id = next(ids)
            ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == my_id:
                    return message.get("result", {})

        def text():
            result = call("Runtime.evaluate", expression="document.body.innerText",
                          returnByValue=True)
            return result.get("result", {}).get("value", "")

        call("Emulation.setDeviceMetricsOverride", width=width, height=height,
             deviceScaleFactor=1, mobile=False)
        call("Page.navigate", url=url)
        deadline = time.time() + 60
        while "live)" not in text():
            if time.time() > deadline:
                sys.exit("the page never showed live data")
            time.sleep(0.05)
        call("Runtime.evaluate",
             expression="document.querySelectorAll('details').forEach(d => d.open = true)")
        time.sleep(1.5)
        shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


main()
