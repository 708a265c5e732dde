"""Plays a stream in headless Chromium's <audio> element, as a person opening it in a browser
would, and reports whether it plays: the element's clock read twice, GAP seconds apart.

usage: audio_page.py URL GAP_SECONDS
Prints one JSON object: {"first": currentTime, "second": currentTime, "paused": bool,
"error": the element's error code or null, "ready": readyState}.
Needs Debian's chromium and python3-websocket. Chromium without a sound card plays into a
null audio sink, whose clock runs like a real one.
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
    url, gap = sys.argv[1], float(sys.argv[2])
    profile = tempfile.mkdtemp(prefix="kamaelia-audio-")
    browser = subprocess.Popen(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required", "--remote-debugging-port=0",
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

        def evaluate(expression):
            my_id = next(ids)
            ws.send(json.dumps({"id": my_id, "method": "Runtime.evaluate",
                                "params": {"expression": expression, "returnByValue": True}}))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == my_id:
                    return message.get("result", {}).get("result", {}).get("value")

        evaluate("const a = document.createElement('audio'); a.id = 'radio';"
                 f"a.src = {json.dumps(url)}; a.autoplay = true; document.body.appendChild(a);"
                 "a.play().catch(e => { window.playError = String(e); }); 0")
        deadline = time.time() + 20
        while (evaluate("document.getElementById('radio').currentTime") or 0) <= 0:
            if time.time() > deadline:
                break
            time.sleep(0.05)
        first = evaluate("document.getElementById('radio').currentTime")
        time.sleep(gap)
        state = evaluate("(() => { const a = document.getElementById('radio'); return {"
                         "second: a.currentTime, paused: a.paused, ready: a.readyState,"
                         "error: a.error ? a.error.code : (window.playError || null)}; })()")
        state["first"] = first
        print(json.dumps(state))
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


main()
