/**
 * Writes docs/configuration.md from the configuration schema (src/config/schema.ts, read as
 * the settings table of src/config/settings.ts), so that the
 * reference cannot drift from the code: `node --import tsx scripts/config-doc.ts`.
 * A test checks that the committed file matches what this script writes.
 */
import { writeFileSync } from 'node:fs'
import { envName, settings } from '../src/config/settings.js'

export function configurationDoc(): string {
  const rows = settings.map((s) => {
    const def = s.default === undefined ? '—' : `\`${JSON.stringify(s.default)}\``
    return `| \`${s.path}\` | \`${envName(s.path)}\` | ${s.flag ? `\`${s.flag}\`` : ''} | ${def} | ${s.doc.replace(/\|/g, '\\|')} |`
  })
  return `# Configuration

Every setting liveorigin reads. Settings come from a YAML file (\`--config file.yaml\`, keys
in camelCase under the sections \`ingest\`, \`delivery\`, \`control\`, \`storage\`, \`cache\`,
\`overload\`, \`channels\`, \`log\`), from \`LIVEORIGIN_*\` environment variables, and from
flags. Flags win, then environment, then file. A bad setting stops start-up with one line
naming it (exit code 2). Environment values are parsed by type: integers, \`true\`/\`false\`,
comma-separated roles, JSON for maps (e.g. \`LIVEORIGIN_INGEST_TOKENS='{"east":"secret"}'\`).
\`LIVEORIGIN_CONFIG\` names the YAML file when \`--config\` is not given.

This file is generated from the configuration schema \`src/config/schema.ts\` by \`scripts/config-doc.ts\`.

| setting | environment | flag | default | meaning |
|---|---|---|---|---|
${rows.join('\n')}

## Example

\`\`\`yaml
host: 127.0.0.1
ingest:
  tokens:
    east: "a-long-random-secret"
    west: { token: "another-long-secret", channels: [sports1] }
  maxObjectBytes: 67108864
delivery:
  workers: 1
storage:
  dataDir: /var/lib/liveorigin
cache:
  memoryBytes: 268435456
channels:
  sports1:
    segmentDurationMs: 2000
    availabilityStartTime: "2026-11-26T12:00:00Z"
    media: "$RepresentationID$/seg-$Number%05d$.m4s"
    initialization: "$RepresentationID$/init.mp4"
    pipelines: [east, west]
    gapPolicy: filler   # or gone; see timing.md, "Gap policy"
\`\`\`

Channels are also created through the control API (\`PUT /api/v1/channels/{channel}\`, see
[timing.md](timing.md)) or learned from the first DASH MPD a pipeline PUTs. Explicit
configuration (API or file) wins over what is learned. Every field of a channel
configuration, with its default and range, is listed in [timing.md](timing.md).
`
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationDoc())
}
