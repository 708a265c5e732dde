#!/usr/bin/env bash
# Makes the files the real-time pacing tests stream (our own synthesis: no third-party content).
# Needs sox and oggenc. Output is byte-identical from run to run (fixed serials, sox -R).
# - swing.ogg: 10 s of silence, then 10 s of white noise (22.05 kHz mono): its bit rate swings
#   from almost nothing to its maximum, so pacing by any average rate fails its first 10 s.
# - chained.ogg: two chain links at different rates — 3 s of 44.1 kHz stereo tones, then 3 s
#   of 22.05 kHz mono plucks.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sox -R -n -r 22050 -c 1 -b 16 "$tmp/silence.wav" trim 0 10
sox -R -n -r 22050 -c 1 -b 16 "$tmp/noise.wav" synth 10 whitenoise gain -6
sox -R "$tmp/silence.wav" "$tmp/noise.wav" "$tmp/swing.wav"
oggenc -Q -s 5101 -q 2 -o swing.ogg "$tmp/swing.wav"
sox -R -n -r 44100 -c 2 -b 16 "$tmp/a.wav" synth 3 sine 330 sine 495 tremolo 4 50 gain -6
sox -R -n -r 22050 -c 1 -b 16 "$tmp/b.wav" synth 3 pluck E3 pluck B3 gain -6
oggenc -Q -s 5102 -q 3 -o "$tmp/a.ogg" "$tmp/a.wav"
oggenc -Q -s 5103 -q 1 -o "$tmp/b.ogg" "$tmp/b.wav"
cat "$tmp/a.ogg" "$tmp/b.ogg" > chained.ogg
