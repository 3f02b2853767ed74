import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { runInNewContext } from 'node:vm'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

let origin: TestOrigin
before(async () => {
  origin = await startOrigin()
})
after(() => origin.close())

type PageNode = { textContent: string; innerHTML: string; onclick?: () => void }

/**
 * Runs the dashboard page's script against the real control API, with just enough of a DOM:
 * the nodes it wrote, by id, and every API path it fetched.
 */
async function runDashboard(): Promise<{ nodes: Record<string, PageNode>; fetched: string[] }> {
  const page = await fetch(`${origin.control}/`)
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
  const script = (await page.text()).split('<script>')[1]!.split('</script>')[0]!
  const nodes: Record<string, PageNode> = {}
  const fetched: string[] = []
  runInNewContext(script, {
    document: { getElementById: (id: string) => (nodes[id] ??= { textContent: '', innerHTML: '' }) },
    fetch: (path: string) => {
      fetched.push(path)
      return fetch(`${origin.control}${path}`)
    },
    setInterval: () => 0,
    encodeURIComponent,
    Date,
    Promise,
    Object,
    String,
  })
  return { nodes, fetched }
}

it('the dashboard draws a channel’s pipelines and timeline from the status API', async () => {
  // D = 10 s: the live edge (6) stays put for seconds, however slowly a busy machine runs this.
  const ast = Date.now() - 60_000
  const c = await fetch(`${origin.control}/api/v1/channels/c1`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
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
  const { nodes } = await runDashboard()
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

it('the dashboard polls one page of channels and the status of those only', async () => {
  // c1 plus 24 more: two pages of 20.
  for (let i = 0; i < 24; i++) {
    const r = await fetch(`${origin.ingest}/p${String(i).padStart(2, '0')}/x.bin`, {
      method: 'PUT',
      body: 'x',
      headers: { 'Pipeline-Id': 'east' },
    })
    assert.equal(r.status, 201)
  }
  const { nodes, fetched } = await runDashboard()
  let refreshes = 0
  const settle = async (range: RegExp, shown: RegExp) => {
    const deadline = Date.now() + 5000
    while (
      !(range.test(nodes.range?.textContent ?? '') && shown.test(nodes.main?.innerHTML ?? '')) &&
      Date.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 20))
    refreshes++
  }
  await settle(/^channels 1–20 of 25$/, /name">p18</)
  assert.equal(nodes.range!.textContent, 'channels 1–20 of 25')
  const statuses = fetched.filter((p) => p.endsWith('/status'))
  assert.equal(statuses.length, 20, 'the status of the shown channels only')
  assert.ok(fetched.some((p) => p.startsWith('/api/v1/channels?limit=20')))
  assert.match(nodes.main!.innerHTML, /<span class="name">c1<\/span>/)
  assert.doesNotMatch(nodes.main!.innerHTML, /<span class="name">p23<\/span>/)

  fetched.length = 0
  nodes.next!.onclick!()
  await settle(/^channels 21–25 of 25$/, /name">p23</)
  assert.equal(fetched.filter((p) => p.endsWith('/status')).length, 5)
  assert.match(nodes.main!.innerHTML, /<span class="name">p23<\/span>/)
  assert.ok(refreshes === 2)
})
