"""Plays a stream in headless Chromium's <audio> element, as a person opening it in a browser
would, and reports whether it plays: the element's clock read twice, GAP seconds apart.

usage: audio_page.py URL GAP_SECONDS
Prints one JSON object: {"first": currentTime, "second": currentTime, "paused": bool,
"error": the element's error code or null, "ready": readyState}.
Chromium without a sound card plays into a null audio sink, whose clock runs like a real one.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "../../../kamaelia-net/tests/support"))
from chromium import Chromium  # noqa: E402


def main():
    url, gap = sys.argv[1], float(sys.argv[2])
    with Chromium("--autoplay-policy=no-user-gesture-required") as page:
        page.evaluate("const a = document.createElement('audio'); a.id = 'radio';"
                      f"a.src = {json.dumps(url)}; a.autoplay = true;"
                      "document.body.appendChild(a);"
                      "a.play().catch(e => { window.playError = String(e); }); 0")
        clock = "document.getElementById('radio').currentTime"
        deadline = time.time() + 20
        while (page.evaluate(clock) or 0) <= 0 and time.time() < deadline:
            time.sleep(0.05)
        first = page.evaluate(clock)
        time.sleep(gap)
        state = page.evaluate(
            "(() => { const a = document.getElementById('radio'); return {"
            "second: a.currentTime, paused: a.paused, ready: a.readyState,"
            "error: a.error ? a.error.code : (window.playError || null)}; })()")
        state["first"] = first
        print(json.dumps(state))


main()
