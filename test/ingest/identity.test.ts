/**
 * Pipeline identity on ingest over real sockets: Bearer and HTTP Basic (pipeline as user,
 * token as password) when tokens are configured; in open mode `Pipeline-Id`, the Basic user,
 * or `default` when a PUT names no pipeline. Every refusal is a 4xx with a JSON error that
 * names the problem, and stores nothing.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

async function put(origin: TestOrigin, path: string, headers: Record<string, string>, body = 'x') {
  const r = await fetch(`${origin.ingest}${path}`, { method: 'PUT', body, headers })
  const text = await r.text()
  const error =
    r.status >= 400 ? (JSON.parse(text) as { error: { code: string; message: string } }).error : undefined
  return { status: r.status, error, challenge: r.headers.get('www-authenticate') }
}

/** The pipeline whose copy delivery serves, or the status when there is none. */
async function storedAs(origin: TestOrigin, path: string): Promise<string | number> {
  const r = await fetch(`${origin.delivery}${path}`)
  await r.arrayBuffer()
  return r.status === 200 ? (r.headers.get('segment-pipeline') ?? '') : r.status
}

describe('identity with tokens: Bearer or HTTP Basic', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin({
      'ingest.tokens': { east: 'east-secret-1', west: { token: 'west-secret-1', channels: ['allowed'] } },
    })
  })
  after(() => origin.close())

  it('Basic with the pipeline as user and its token as password writes as that pipeline', async () => {
    assert.equal(
      (await put(origin, '/allowed/b.vtt', { Authorization: basic('east', 'east-secret-1') })).status,
      201,
    )
    assert.equal(await storedAs(origin, '/allowed/b.vtt'), 'east')
    assert.equal(
      (await put(origin, '/allowed/c.vtt', { Authorization: basic('west', 'west-secret-1') })).status,
      201,
    )
    assert.equal(await storedAs(origin, '/allowed/c.vtt'), 'west')
    // Bearer still works beside it, the scheme in any case.
    assert.equal((await put(origin, '/allowed/d.vtt', { Authorization: 'bearer east-secret-1' })).status, 201)
    assert.equal(await storedAs(origin, '/allowed/d.vtt'), 'east')
  })

  it('401 naming the problem: no credentials, unknown token, a token of another pipeline, unreadable Basic', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /missing Authorization/],
      [{ 'Pipeline-Id': 'east' }, /missing Authorization/],
      [{ Authorization: basic('east', 'wrong-secret') }, /unknown token for user east/],
      [{ Authorization: basic('west', 'east-secret-1') }, /belongs to another pipeline/],
      [{ Authorization: 'Basic %%%not-base64' }, /base64/],
      [{ Authorization: `Basic ${Buffer.from('no-colon').toString('base64')}` }, /no colon/],
      [{ Authorization: 'Digest username="east"' }, /"Bearer <token>" or "Basic/],
    ]
    for (const [headers, message] of cases) {
      const r = await put(origin, '/allowed/refused.vtt', headers)
      assert.equal(r.status, 401, JSON.stringify(headers))
      assert.equal(r.error?.code, 'LIVEORIGIN_ERR_UNAUTHORIZED')
      assert.match(r.error?.message ?? '', message)
      // Both schemes are offered, Basic first: an HTTP client that waits for a challenge answers it.
      assert.match(r.challenge ?? '', /^Basic realm="liveorigin", Bearer realm="liveorigin"$/)
    }
    assert.equal(await storedAs(origin, '/allowed/refused.vtt'), 404)
  })

  it('403 when the pipeline given by Basic may not write to the channel', async () => {
    const r = await put(origin, '/other/x.vtt', { Authorization: basic('west', 'west-secret-1') })
    assert.equal(r.status, 403)
    assert.equal(r.error?.code, 'LIVEORIGIN_ERR_FORBIDDEN')
    assert.match(r.error?.message ?? '', /pipeline west may not write to channel other/)
  })
})

describe('identity in open mode: Pipeline-Id, the Basic user, or default', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  it('names the pipeline from Pipeline-Id, else the Basic user (password ignored), else default', async () => {
    assert.equal((await put(origin, '/open/a.vtt', { 'Pipeline-Id': 'east' })).status, 201)
    assert.equal(await storedAs(origin, '/open/a.vtt'), 'east')
    assert.equal((await put(origin, '/open/b.vtt', { Authorization: basic('west', 'anything') })).status, 201)
    assert.equal(await storedAs(origin, '/open/b.vtt'), 'west')
    assert.equal((await put(origin, '/open/c.vtt', {})).status, 201)
    assert.equal(await storedAs(origin, '/open/c.vtt'), 'default')
    // A Basic user left empty names nobody: default.
    assert.equal((await put(origin, '/open/d.vtt', { Authorization: basic('', '') })).status, 201)
    assert.equal(await storedAs(origin, '/open/d.vtt'), 'default')
    // Both, agreeing.
    const both = { 'Pipeline-Id': 'north', Authorization: basic('north', 'x') }
    assert.equal((await put(origin, '/open/e.vtt', both)).status, 201)
    assert.equal(await storedAs(origin, '/open/e.vtt'), 'north')
  })

  it('400 naming the header for an invalid name or two names that disagree; nothing stored', async () => {
    const cases: Array<[Record<string, string>, number, RegExp]> = [
      [{ 'Pipeline-Id': 'a b' }, 400, /Pipeline-Id.*must match/],
      [{ Authorization: basic('bad/user', 'x') }, 400, /Authorization.*"bad\/user" must match/],
      [
        { 'Pipeline-Id': 'east', Authorization: basic('west', 'x') },
        400,
        /names pipeline east but the Basic user names west/,
      ],
      [{ Authorization: 'Basic ###' }, 401, /base64/],
    ]
    for (const [headers, status, message] of cases) {
      const r = await put(origin, '/open/refused.vtt', headers)
      assert.equal(r.status, status, JSON.stringify(headers))
      assert.match(r.error?.message ?? '', message)
    }
    assert.equal(await storedAs(origin, '/open/refused.vtt'), 404)
  })
})
