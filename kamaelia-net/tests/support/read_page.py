"""Reads a live page the way a person would: headless Chromium, driven over the DevTools
protocol (see chromium.py).

usage: read_page.py URL READS GAP_SECONDS
Prints one JSON object: {"reads": [the page's visible text, READS times, GAP_SECONDS apart],
"first_render_ms": from asking for the page to seeing live data on it}.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chromium import Chromium  # noqa: E402


def main():
    url, reads, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with Chromium() as page:
        started = time.time()
        page.call("Page.navigate", url=url)
        deadline = time.time() + 60
        while "live)" not in page.text():  # the page says "(N components, live)" once data came
            if time.time() > deadline:
                sys.exit("the page never showed live data: " + page.text()[:500])
            time.sleep(0.02)
        first_render_ms = (time.time() - started) * 1000
        # Open every component, as a person clicking through would (the page keeps them open
        # across updates).
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        time.sleep(0.5)
        out = []
        for i in range(reads):
            if i:
                time.sleep(gap)
            out.append(page.text())
        print(json.dumps({"reads": out, "first_render_ms": first_render_ms}))


main()
