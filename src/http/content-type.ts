/** Media types by file extension, for uploads that do not say theirs. */
const byExtension: Record<string, string> = {
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  m4a: 'audio/mp4',
  cmfv: 'video/mp4',
  cmfa: 'audio/mp4',
  cmft: 'application/mp4',
  mpd: 'application/dash+xml',
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  aac: 'audio/aac',
  vtt: 'text/vtt',
  ttml: 'application/ttml+xml',
  json: 'application/json',
  key: 'application/octet-stream',
}

export function contentTypeFor(path: string, declared: string | undefined): string {
  // curl's default for --data-binary is not a media type anyone means: use the extension.
  if (
    declared &&
    declared.length <= 200 &&
    !/[\r\n]/.test(declared) &&
    !declared.startsWith('application/x-www-form-urlencoded')
  ) {
    return declared
  }
  const dot = path.lastIndexOf('.')
  return (dot !== -1 && byExtension[path.slice(dot + 1).toLowerCase()]) || 'application/octet-stream'
}

/** Extensions whose bodies are fragmented MP4 and get inspected on ingest. */
export function isFragmentedMp4(path: string): boolean {
  return /\.(m4s|mp4|m4v|m4a|cmfv|cmfa|cmft)$/i.test(path)
}
