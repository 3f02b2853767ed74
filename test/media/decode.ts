/**
 * Decoding with Debian's ffmpeg and ffprobe, as a player would: the init segment followed
 * by media segments, piped in. What ffmpeg writes at `-v error` is what a test asserts empty.
 */
import { spawnSync } from 'node:child_process'

/** ffmpeg's error output for decoding `parts` concatenated ('' when it decodes cleanly). */
export function decodeErrors(...parts: Uint8Array[]): string {
  const r = spawnSync('ffmpeg', ['-nostdin', '-v', 'error', '-i', 'pipe:0', '-f', 'null', '-'], {
    input: Buffer.concat(parts),
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  })
  if (r.error) throw r.error
  return `${r.stderr}${r.status === 0 ? '' : `exit ${r.status}`}`
}

/** Every packet of `parts` concatenated: stream index, decode time and duration (seconds), from ffprobe. */
export function probePackets(...parts: Uint8Array[]): { stream: number; dts: number; duration: number }[] {
  const r = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'packet=stream_index,dts_time,duration_time', '-of', 'json', 'pipe:0'],
    { input: Buffer.concat(parts), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  )
  if (r.error) throw r.error
  if (r.status !== 0 || r.stderr !== '') throw new Error(`ffprobe failed: ${r.stderr}`)
  const json = JSON.parse(r.stdout) as {
    packets: { stream_index: number; dts_time: string; duration_time: string }[]
  }
  return json.packets.map((p) => ({
    stream: p.stream_index,
    dts: Number(p.dts_time),
    duration: Number(p.duration_time),
  }))
}
