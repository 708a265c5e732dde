"""Captures the live view as a person sees it, in headless Chromium over the DevTools protocol
(see kamaelia-net/tests/support/chromium.py).

usage: capture.py URL OUT.png [WIDTH HEIGHT]
Waits until the view says it is live, opens every folded group, waits for the next update, and
writes a PNG of the window.
"""
import base64
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "../../kamaelia-net/tests/support"))
from chromium import Chromium  # noqa: E402


def main():
    url, out = sys.argv[1], sys.argv[2]
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1400
    height = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    with Chromium("--hide-scrollbars", f"--window-size={width},{height}") as page:
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=url)
        deadline = time.time() + 60
        while "live)" not in page.text():
            if time.time() > deadline:
                sys.exit("the page never showed live data")
            time.sleep(0.05)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        time.sleep(1.5)
        shot = page.call("Page.captureScreenshot", format="png")
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


main()
