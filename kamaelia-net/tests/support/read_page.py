"""Reads a live page the way a person would: headless Chromium, driven over the DevTools
protocol (a page holding /events open never "finishes loading", so --dump-dom cannot be used).

usage: read_page.py URL READS GAP_SECONDS
Prints one JSON object: {"reads": [the page's visible text, READS times, GAP_SECONDS apart],
"first_render_ms": from asking for the page to seeing live data on it}.
Needs Debian's chromium and python3-websocket.
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


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no chromium on PATH")


def main():
    url, reads, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    profile = tempfile.mkdtemp(prefix="kamaelia-view-")
    browser = subprocess.Popen(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "about:blank"],
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

        started = time.time()
        call("Page.navigate", url=url)
        deadline = time.time() + 60
        while "live)" not in text():  # the page says "(N components, live)" once data came
            if time.time() > deadline:
                sys.exit("the page never showed live data: " + text()[:500])
            time.sleep(0.02)
        first_render_ms = (time.time() - started) * 1000
        # Open every component, as a person clicking through would (the page keeps them open
        # across updates).
        call("Runtime.evaluate",
             expression="document.querySelectorAll('details').forEach(d => d.open = true)")
        time.sleep(0.5)
        out = []
        for i in range(reads):
            if i:
                time.sleep(gap)
            out.append(text())
        print(json.dumps({"reads": out, "first_render_ms": first_render_ms}))
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


main()
