#!/usr/bin/env bash
# Copies the media `liveorigin simulate` publishes from the ffmpeg-made DASH fixtures:
# test/fixtures/make-fixtures.sh (Debian's ffmpeg 5.1) encodes 6 s of a synthetic test
# pattern (testsrc2, 25 fps, one IDR frame per second) and a 440 Hz tone, packaged as
# live-profile fMP4 with 1 s segments: video renditions "0" (320x180, 300 kb/s) and "1"
# (160x90, 100 kb/s), AAC audio rendition "2" (48 kHz mono, 64 kb/s). The simulator takes
# the init segments and the samples of the first four segments of each rendition (4 s,
# four GOPs) and builds segments of any duration and number from them (src/simulate/).
# renditions.json describes the renditions as the fixtures' live MPD does.
# Run from anywhere: bash assets/sim/make-assets.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../../test/fixtures/dash"
[ -f "$src/init-0.m4s" ] || bash "$here/../../test/fixtures/make-fixtures.sh"
for r in 0 1 2; do
  cp "$src/init-$r.m4s" "$here/"
  for n in 1 2 3 4; do cp "$src/seg-$r-0000$n.m4s" "$here/"; done
done
ls -l "$here"
