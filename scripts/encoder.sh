#!/usr/bin/env bash
# A live encoder for liveorigin whose segment numbers are locked to the channel's clock, so
# that redundant encoders started at different times give segment N the same media time
# (the same `tfdt`) and the origin can serve either copy. See docs/packagers.md.
#
#   scripts/encoder.sh --url http://east:SECRET@127.0.0.1:8081/live --ast 1767225600000 \
#     -- -re -f lavfi -i testsrc2=size=640x360:rate=25 -re -f lavfi -i sine=frequency=440
#
# What it does, from the channel's availabilityStartTime E (epoch ms), segment duration D and
# startNumber S:
#   1. waits for the next segment boundary W = E + k·D on this machine's clock (k whole, and
#      a multiple of what keeps the AAC frame grid aligned: every 8 s for D = 2 s);
#   2. runs ffmpeg with its output timestamps shifted by W − E (`-output_ts_offset`, kept in
#      the fMP4 `tfdt` by `movflags=+frag_discont`), key frames forced every D from there, and
#      the first segment numbered S + k (`-start_number`): segment N then holds media time
#      [(N − S)·D, (N − S + 1)·D) on every encoder that does the same;
#   3. PUTs one DASH MPD (SegmentTemplate with $Number$, the channel's E, D and S), the same
#      bytes from every encoder, from which the origin learns the channel.
# Segments are CMAF fMP4 written by ffmpeg's HLS muxer (its DASH muxer always numbers from 1),
# so the channel is also an HLS channel: `master.m3u8`, `video.m3u8`, `audio.m3u8`.
# With --segment-type ts the segments are MPEG-TS (`video_N.ts`, `audio_N.ts`), the channel is
# HLS only and no MPD is PUT: create the channel first with the template
# `$RepresentationID$_$Number$.ts` (docs/packagers.md).
#
# Identity: the URL's user and password are sent as HTTP Basic on every request (ffmpeg alone
# sends them only after a 401 challenge, which it cannot answer for an upload); --bearer
# sends a Bearer token instead; --pipeline a Pipeline-Id header (open mode only).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: encoder.sh --url URL (--ast MS | --control URL) [options] -- INPUT_OPTIONS...
  --url URL           ingest URL of the channel, user:password@ for HTTP Basic
                      (http://east:SECRET@127.0.0.1:8081/live)
  --ast MS            the channel's availabilityStartTime, epoch milliseconds
  --control URL       read availabilityStartTime, segmentDurationMs and startNumber from the
                      control API instead (http://127.0.0.1:8082); the channel must exist
  --segment SECONDS   segment duration D (default 2; with --control: the channel's)
  --start-number S    the channel's startNumber (default 1; with --control: the channel's)
  --size WxH          video size (default 640x360)
  --video-bitrate B   (default 800k)
  --bearer TOKEN      Authorization: Bearer TOKEN instead of Basic from the URL
  --pipeline ID       Pipeline-Id: ID (open mode)
  --mpd NAME          name of the DASH MPD (default manifest.mpd)
  --segment-type T    fmp4 (default: CMAF segments, HLS playlists and a DASH MPD) or ts
                      (MPEG-TS segments and HLS playlists only, no MPD)
  INPUT_OPTIONS       ffmpeg input options: one video and one audio input, real time (-re)
EOF
}

url='' ast='' control='' segment='2' start_number='1' size='640x360' vbitrate='800k'
bearer='' pipeline='' mpd='manifest.mpd' segment_given='' start_given='' segment_type='fmp4'
while [[ $# -gt 0 ]]; do
  case "$1" in
    --url) url="$2"; shift 2 ;;
    --ast) ast="$2"; shift 2 ;;
    --control) control="$2"; shift 2 ;;
    --segment) segment="$2"; segment_given=1; shift 2 ;;
    --start-number) start_number="$2"; start_given=1; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --video-bitrate) vbitrate="$2"; shift 2 ;;
    --bearer) bearer="$2"; shift 2 ;;
    --pipeline) pipeline="$2"; shift 2 ;;
    --mpd) mpd="$2"; shift 2 ;;
    --segment-type) segment_type="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "encoder.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ -z "$url" || ( -z "$ast" && -z "$control" ) || $# -eq 0 ]]; then usage >&2; exit 2; fi
if [[ "$segment_type" != fmp4 && "$segment_type" != ts ]]; then
  echo "encoder.sh: --segment-type must be fmp4 or ts, got $segment_type" >&2
  exit 2
fi

# The URL without credentials, and the credentials as a header.
if [[ "$url" =~ ^(https?://)([^/@]*)@(.*)$ ]]; then
  userinfo="${BASH_REMATCH[2]}"
  base="${BASH_REMATCH[1]}${BASH_REMATCH[3]}"
else
  userinfo='' base="$url"
fi
base="${base%/}"
channel="${base##*/}"
headers=()
if [[ -n "$bearer" ]]; then
  headers+=("Authorization: Bearer $bearer")
elif [[ -n "$userinfo" ]]; then
  headers+=("Authorization: Basic $(printf '%s' "$userinfo" | base64 -w0)")
fi
[[ -n "$pipeline" ]] && headers+=("Pipeline-Id: $pipeline")

if [[ -n "$control" ]]; then
  json="$(curl -fsS "${control%/}/api/v1/channels/$channel")" || {
    echo "encoder.sh: channel $channel not found at $control" >&2
    exit 1
  }
  field() { grep -o "\"$1\":[0-9]*" <<<"$json" | head -n1 | cut -d: -f2; }
  ast="$(field availabilityStartTime)"
  [[ -z "$segment_given" ]] && segment="$(awk -v ms="$(field segmentDurationMs)" 'BEGIN { print ms / 1000 }')"
  [[ -z "$start_given" ]] && start_number="$(field startNumber)"
  if [[ -z "$ast" || -z "$segment" || -z "$start_number" ]]; then
    echo "encoder.sh: channel $channel has no timing yet (create it with availabilityStartTime)" >&2
    exit 1
  fi
fi

d_ms="$(awk -v s="$segment" 'BEGIN { printf "%d", s * 1000 }')"
now="$(date +%s%3N)"
# Start on a boundary where the AAC frame grid (1024 samples at 48 kHz) also restarts, so
# that audio segments begin on the same sample on every encoder: k a multiple of m, where
# m·D is a whole number of audio frames (D = 2 s: m = 4, every 8 s).
gcd() { local a=$1 b=$2; while (( b )); do local t=$(( a % b )); a=$b; b=$t; done; echo "$a"; }
m=$(( 1024 / $(gcd $(( d_ms * 48 )) 1024) ))
# The first such boundary at least 500 ms away (time for ffmpeg to start), never before E.
k=$(( (now + 500 - ast + d_ms - 1) / d_ms ))
(( k < 0 )) && k=0
k=$(( (k + m - 1) / m * m ))
w=$(( ast + k * d_ms ))
first=$(( start_number + k ))
offset="$(awk -v ms=$(( w - ast )) 'BEGIN { printf "%.3f", ms / 1000 }')"
width="${size%x*}" height="${size#*x}"

iso() { printf '%s.%03dZ' "$(date -u -d "@$(( $1 / 1000 ))" +%Y-%m-%dT%H:%M:%S)" $(( $1 % 1000 )); }
seconds() { awk -v ms="$1" 'BEGIN { printf "PT%.3fS", ms / 1000 }'; }
vbps="$(awk -v b="$vbitrate" 'BEGIN { n = b + 0; if (b ~ /[kK]$/) n *= 1000; if (b ~ /[mM]$/) n *= 1000000; printf "%d", n }')"
template="<SegmentTemplate timescale=\"1000\" duration=\"$d_ms\" startNumber=\"$start_number\" initialization=\"init_\$RepresentationID\$.mp4\" media=\"\$RepresentationID\$_\$Number\$.m4s\"/>"
manifest="<?xml version=\"1.0\" encoding=\"utf-8\"?>
<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"dynamic\" availabilityStartTime=\"$(iso "$ast")\" publishTime=\"$(iso "$ast")\" minimumUpdatePeriod=\"$(seconds "$d_ms")\" minBufferTime=\"$(seconds $(( 2 * d_ms )))\" suggestedPresentationDelay=\"$(seconds $(( 4 * d_ms )))\" timeShiftBufferDepth=\"PT60S\" maxSegmentDuration=\"$(seconds "$d_ms")\">
  <Period id=\"0\" start=\"PT0S\">
    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">
      $template
      <Representation id=\"video\" codecs=\"avc1.4D401F\" bandwidth=\"$vbps\" width=\"$width\" height=\"$height\" sar=\"1:1\"/>
    </AdaptationSet>
    <AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">
      $template
      <Representation id=\"audio\" codecs=\"mp4a.40.2\" bandwidth=\"96000\" audioSamplingRate=\"48000\">
        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"

curl_headers=()
for h in "${headers[@]}"; do curl_headers+=(-H "$h"); done
if [[ "$segment_type" == fmp4 ]]; then
  answer="$(curl -sS -w '\n%{http_code}' -X PUT "${curl_headers[@]}" -H 'Content-Type: application/dash+xml' \
    --data-binary "$manifest" "$base/$mpd")"
  if [[ "${answer##*$'\n'}" != 2* ]]; then
    echo "encoder.sh: the origin refused the MPD: ${answer//$'\n'/ }" >&2
    exit 1
  fi
fi

header_lines=''
for h in "${headers[@]}"; do header_lines+="$h"$'\r\n'; done
echo "encoder.sh: channel $channel, D=${segment}s, $segment_type, first segment $first at $(iso "$w") (output_ts_offset ${offset}s)" >&2
wait_ms=$(( w - $(date +%s%3N) ))
(( wait_ms > 0 )) && sleep "$(awk -v ms="$wait_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"

# fMP4: the shifted timestamps kept in `tfdt`, one init segment per rendition. MPEG-TS: the
# shift is in the PES timestamps themselves.
if [[ "$segment_type" == fmp4 ]]; then
  segments=(-hls_segment_type fmp4 -hls_segment_options movflags=+frag_discont
    -hls_fmp4_init_filename 'init_%v.mp4' -hls_segment_filename "$base/%v_%d.m4s")
else
  segments=(-hls_segment_type mpegts -hls_segment_filename "$base/%v_%d.ts")
fi

exec ffmpeg -hide_banner -loglevel "${FFMPEG_LOGLEVEL:-warning}" "$@" \
  -map 0:v:0 -map 1:a:0 -s "$size" -c:v libx264 -profile:v main -level 3.1 -pix_fmt yuv420p \
  -preset veryfast -tune zerolatency -b:v "$vbitrate" -maxrate "$vbitrate" -bufsize "$vbitrate" \
  -sc_threshold 0 -force_key_frames "expr:gte(t,n_forced*$segment)" \
  -c:a aac -b:a 96k -ar 48000 -ac 2 \
  -output_ts_offset "$offset" \
  -f hls -method PUT ${header_lines:+-headers "$header_lines"} \
  -hls_time "$segment" -hls_list_size 6 "${segments[@]}" \
  -start_number "$first" -var_stream_map 'v:0,agroup:aac,name:video a:0,agroup:aac,name:audio,default:yes' \
  -master_pl_name master.m3u8 "$base/%v.m3u8"
