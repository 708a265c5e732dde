#!/usr/bin/env bash
# Makes the project's own Ogg Vorbis test files (synthesised tones: no third-party content) and
# their reference facts from the reference decoder. Needs: sox, vorbis-tools (oggenc, oggdec).
# Output is byte-identical from run to run (fixed serials, sox -R).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sox -R -n -r 44100 -c 2 -b 16 "$tmp/stereo.wav" synth 1 sine 440 sine 660 gain -3
sox -R -n -r 22050 -c 1 -b 16 "$tmp/mono.wav" synth 2 pluck C4 gain -3
oggenc -Q -s 3001 -q 2 -o tone_44k_stereo.ogg "$tmp/stereo.wav"
oggenc -Q -s 3002 -q 1 -o pluck_22k_mono.ogg "$tmp/mono.wav"
cat tone_44k_stereo.ogg pluck_22k_mono.ogg > chained_stereo_mono.ogg
# A damaged copy: 1,000 bytes of 0xAA written over the middle (no reference count: decoders
# differ in what they salvage; the test checks that damage is reported and the rest decodes).
sox -R -n -r 22050 -c 1 -b 16 "$tmp/long.wav" synth 12 sine 300-900 gain -6
oggenc -Q -s 3003 -q 0 -o "$tmp/long.ogg" "$tmp/long.wav"
python3 - "$tmp/long.ogg" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
mid = len(data) // 2
data[mid:mid + 1000] = b"\xaa" * 1000
open("damaged_middle.ogg", "wb").write(data)
PY

# 30 seconds of stereo for the media benchmark (decode speed, × real time).
sox -R -n -r 44100 -c 2 -b 16 "$tmp/bench.wav" synth 30 sine 220-880 sine 330-990 gain -6
oggenc -Q -s 3004 -q 1 -o bench_30s_stereo.ogg "$tmp/bench.wav"

# Reference facts: frames per channel from oggdec (raw 16-bit output), per link for the chain.
frames() { # file channels
    oggdec -Q -R -o - "$1" | wc -c | awk -v ch="$2" '{ print $1 / 2 / ch }'
}
{
    echo "# file frames_per_channel (oggdec -R), made by make.sh"
    echo "tone_44k_stereo.ogg $(frames tone_44k_stereo.ogg 2)"
    echo "pluck_22k_mono.ogg $(frames pluck_22k_mono.ogg 1)"
    echo "undamaged_long.ogg $(frames "$tmp/long.ogg" 1)"
    echo "bench_30s_stereo.ogg $(frames bench_30s_stereo.ogg 2)"
} > facts.txt
# oggdec decodes only the first link of a chain, so each link is given separately above.
# The stereo file's samples, for the ±1 comparison.
oggdec -Q -R -o tone_44k_stereo.raw tone_44k_stereo.ogg
