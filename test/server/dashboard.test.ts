import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { runInNewContext } from 'node:vm'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

let origin: TestOrigin
before(async () => {
  origin = await startOrigin()
})
after(() => origin.close())

it('the dashboard draws a channel’s pipelines and timeline from the status API', async () => {
  // D = 10 s: the live edge (6) stays put for seconds, however slowly a busy machine runs this.
  const ast = Date.now() - 60_000
  const c = await fetch(`${origin.control}/api/v1/channels/c1`, {
    method: 'PUT',
    body: JSON.stringify({
      segmentDurationMs: 10_000,
      availabilityStartTime: ast,
      media: '$RepresentationID$/$Number$.dat',
      pipelines: ['east', 'west'],
    }),
  })
  assert.equal(c.status, 201)
  for (const n of [3, 4, 5]) {
    for (const [pipeline, defects] of [
      ['east', ''],
      ['west', 'black'],
    ] as const) {
      const headers: Record<string, string> = { 'Pipeline-Id': pipeline }
      if (defects) headers['Segment-Defects'] = defects
      const r = await fetch(`${origin.ingest}/c1/v/${n}.dat`, { method: 'PUT', body: 'x', headers })
      assert.equal(r.status, 201)
    }
  }
  const page = await fetch(`${origin.control}/`)
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
  const html = await page.text()
  const script = html.split('<script>')[1]!.split('</script>')[0]!

  // Run the page's script against the real API, with just enough of a DOM.
  const nodes: Record<string, { textContent: string; innerHTML: string }> = {}
  const sandbox = {
    document: { getElementById: (id: string) => (nodes[id] ??= { textContent: '', innerHTML: '' }) },
    fetch: (path: string) => fetch(`${origin.control}${path}`),
    setInterval: () => 0,
    encodeURIComponent,
    Date,
    Promise,
    Object,
    String,
  }
  runInNewContext(script, sandbox)
  const deadline = Date.now() + 30_000
  while (!nodes.main?.innerHTML.includes('c1') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20))
  const main = nodes.main!.innerHTML
  assert.match(main, /<span class="name">c1<\/span>/)
  assert.match(main, /<td>east<\/td><td><span class="pill ok">healthy<\/span><\/td><td>5<\/td>/)
  assert.match(main, /black 3/)
  assert.match(main, /class="cell valid" title="segment 5 · valid from east/)
  assert.equal(nodes.err?.textContent ?? '', '')
})
