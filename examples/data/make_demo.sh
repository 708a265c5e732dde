#!/usr/bin/env bash
# Makes demo.ogg, the streaming demo's music: 16 bars of synthesised plucked chords (C, Am, F,
# G) over a soft sine pad. Our own synthesis: no third-party content. Needs sox and oggenc.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
for pass in 1 2 3 4; do
    for chord in "C3 E4 G4 C5" "A2 E4 A4 C5" "F2 F4 A4 C5" "G2 D4 G4 B4"; do
        set -- $chord
        sox -R -n -r 44100 -c 1 -b 16 "$tmp/l$i.wav" synth 1.25 pluck "$1" pluck "$2" pluck "$3" pluck "$4" remix - gain -n -4 fade q 0.01 1.25 0.05
        sox -R -n -r 44100 -c 1 -b 16 "$tmp/r$i.wav" synth 1.25 sine "$2" sine "$3" remix - tremolo 3 40 gain -n -12 fade q 0.2 1.25 0.2
        i=$((i + 1))
    done
done
sox -R $(ls "$tmp"/l*.wav | sort -V) "$tmp/left.wav"
sox -R $(ls "$tmp"/r*.wav | sort -V) "$tmp/right.wav"
sox -R -M "$tmp/left.wav" "$tmp/right.wav" "$tmp/demo.wav" gain -n -1
oggenc -Q -s 4242 -q 3 -o demo.ogg "$tmp/demo.wav"
# Reference frames per channel (oggdec, 16-bit stereo: 4 bytes a frame).
oggdec -Q -R -o - demo.ogg | wc -c | awk '{ print "demo.ogg", $1 / 4 }' > demo_facts.txt
