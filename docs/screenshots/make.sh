#!/usr/bin/env bash
# Makes docs/screenshots/live-radio.png: the live view (issue 18) of a running radio station —
# radio_server with a live source pushed by ffmpeg, a fallback mount playing a file, and a few
# dozen listeners — as headless Chromium draws it. Run it again whenever the page changes.
# Needs: ffmpeg, curl, chromium, python3-websocket. Takes about 30 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p kamaelia-examples --bin radio_server
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$((20000 + RANDOM % 10000)); view=$((port + 1))
target/release/radio_server --bind 127.0.0.1:$port --introspect 127.0.0.1:$view \
    --source-password shot --admin-password shot \
    --fallback /live.ogg=/backup.ogg --fallback-file /backup.ogg=examples/data/swing.ogg \
    > "$tmp/server.out" 2> "$tmp/server.log" &
pids+=($!)
sleep 1
ffmpeg -v error -re -stream_loop -1 -i kamaelia-codec/testdata/bench_30s_stereo.ogg -c copy \
    -ice_name "Kamaelia FM" -f ogg "icecast://source:shot@127.0.0.1:$port/live.ogg" &
pids+=($!)
sleep 2
curl -s -u admin:shot \
    "http://127.0.0.1:$port/admin/metadata?mount=/live.ogg&mode=updinfo&song=Night%20Drive" >/dev/null
for i in $(seq 1 40); do
    mount=/live.ogg; [ $((i % 4)) -eq 0 ] && mount=/backup.ogg
    curl -s -o /dev/null "http://127.0.0.1:$port$mount" &
    pids+=($!)
done
sleep 3
/usr/bin/python3 docs/screenshots/capture.py "http://127.0.0.1:$view/" docs/screenshots/live-radio.png 1400 1100
echo "wrote docs/screenshots/live-radio.png"
