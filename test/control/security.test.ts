/**
 * The control plane locked down: no open control API on a public address, writes only as
 * JSON from the control listener's own origin and a known host, a constant-time token,
 * bounded channels and masks, a paged channel list; absolute-form request targets on every
 * listener.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ConfigError, checkExposure, loadConfig } from '../../src/config/load.js'
import { createLogger } from '../../src/observability/log.js'
import { serve } from '../../src/server/serve.js'
import { errorOf } from '../helpers/errors.js'
import { startOrigin, type TestOrigin } from '../helpers/origin.js'

const TOKEN = 'control-secret-1'
const JSON_TYPE = { 'Content-Type': 'application/json' }
const channelBody = JSON.stringify({ segmentDurationMs: 2000, availabilityStartTime: Date.now() })

/** One raw HTTP/1.1 exchange (for request targets and headers fetch will not send). */
async function raw(port: number, head: string, body = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    socket.on('data', (d) => {
      text += d
    })
    socket.on('end', () => resolve({ status: Number(text.slice(9, 12)), text }))
    socket.on('error', reject)
    socket.write(`${head}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  })
}

describe('an open control API on a public address', () => {
  const base = { host: '0.0.0.0', 'ingest.tokens': { east: 'east-secret-1' }, 'log.level': 'silent' }

  it('serve() itself refuses it, naming control.token and the insecure setting', async () => {
    const config = loadConfig({
      overrides: { ...base, 'delivery.workers': 0, 'ingest.port': 0, 'delivery.port': 0, 'control.port': 0 },
    })
    await assert.rejects(
      serve(config, { log: createLogger('silent') }),
      (err: Error) =>
        err instanceof ConfigError &&
        /control\.token/.test(err.message) &&
        /--insecure-open-control/.test(err.message) &&
        !err.message.includes('\n'),
    )
  })

  it('a control token, the explicit insecure setting, a loopback host or a role without control pass', () => {
    const ok = (o: Record<string, unknown>) =>
      checkExposure(loadConfig({ overrides: { ...base, ...o } }), ['ingest', 'delivery', 'control'])
    ok({ 'control.token': TOKEN })
    ok({ 'control.insecureOpenControl': true })
    ok({ host: '127.0.0.1' })
    ok({ host: '::1' })
    checkExposure(loadConfig({ overrides: base }), ['ingest', 'delivery'])
    assert.throws(() => ok({}), ConfigError)
  })

  it('the CLI prints one line and exits 2', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '0.0.0.0'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LIVEORIGIN_INGEST_TOKENS: '{"east":"east-secret-1"}' },
      },
    )
    let stderr = ''
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    assert.equal(code, 2)
    assert.match(
      stderr,
      /^liveorigin: refusing an open control API .*control\.token.*--insecure-open-control.*\n$/,
    )
  })
})

describe('control API writes', () => {
  let origin: TestOrigin
  let port: number
  before(async () => {
    origin = await startOrigin({
      'control.token': TOKEN,
      'control.maxChannels': 6,
      'control.maxMasksPerChannel': 2,
      'control.allowedHosts': ['origin.example'],
    })
    port = origin.running.ports.control!
  })
  after(() => origin.close())
  const auth = { Authorization: `Bearer ${TOKEN}` }

  it('take only application/json (415 otherwise): a form or text body a page could send is refused', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const r = await fetch(`${origin.control}/api/v1/channels/csrf`, {
        method: 'PUT',
        headers: { ...auth, 'Content-Type': type },
        body: channelBody,
      })
      const e = await errorOf(r)
      assert.equal(e.status, 415, type)
      assert.equal(e.code, 'LIVEORIGIN_ERR_UNSUPPORTED_MEDIA_TYPE')
    }
    const ok = await fetch(`${origin.control}/api/v1/channels/csrf`, {
      method: 'PUT',
      headers: { ...auth, 'Content-Type': 'application/json; charset=utf-8' },
      body: channelBody,
    })
    assert.equal(ok.status, 201)
  })

  it('refuse a foreign Origin and an unknown Host (403), accept the listener’s own origin and allowed hosts', async () => {
    const put = (headers: Record<string, string>) =>
      fetch(`${origin.control}/api/v1/channels/site`, {
        method: 'PUT',
        headers: { ...auth, ...JSON_TYPE, ...headers },
        body: channelBody,
      })
    for (const o of ['https://evil.example', 'null', `http://127.0.0.1:${port + 1}`]) {
      const e = await errorOf(await put({ Origin: o }))
      assert.equal(e.status, 403, o)
      assert.equal(e.code, 'LIVEORIGIN_ERR_CROSS_SITE')
    }
    assert.equal((await put({ Origin: `http://127.0.0.1:${port}` })).status, 201)
    // DNS rebinding: the page's name resolves to 127.0.0.1, but Host still says the page's name.
    const rebound = await raw(
      port,
      `PUT /api/v1/channels/site HTTP/1.1\r\nHost: evil.example:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json`,
      channelBody,
    )
    assert.equal(rebound.status, 403)
    assert.match(rebound.text, /LIVEORIGIN_ERR_CROSS_SITE/)
    const allowed = await raw(
      port,
      `PUT /api/v1/channels/site HTTP/1.1\r\nHost: origin.example:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json`,
      channelBody,
    )
    assert.equal(allowed.status, 200)
    const localhost = await raw(
      port,
      `PUT /api/v1/channels/site HTTP/1.1\r\nHost: localhost:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json`,
      channelBody,
    )
    assert.equal(localhost.status, 200)
  })

  it('compare the token whatever its length, and take the Bearer scheme in any case', async () => {
    const put = (authorization: string) =>
      fetch(`${origin.control}/api/v1/channels/tok`, {
        method: 'PUT',
        headers: { ...JSON_TYPE, Authorization: authorization },
        body: channelBody,
      })
    for (const a of [`Bearer ${TOKEN}x`, 'Bearer x', `Basic ${TOKEN}`, `Bearer ${TOKEN.toUpperCase()}`, '']) {
      assert.equal((await put(a)).status, 401, a)
    }
    assert.equal((await put(`bearer ${TOKEN}`)).status, 201)
    assert.equal((await put(`BEARER ${TOKEN}`)).status, 200)
  })

  it('GET /api/v1/channels/% is a 400 naming the problem, not a 500', async () => {
    for (const p of ['%', '%2F', '%zz', 'a%00b']) {
      const e = await errorOf(await fetch(`${origin.control}/api/v1/channels/${p}`))
      assert.equal(e.status, 400, p)
      assert.equal(e.code, 'LIVEORIGIN_ERR_BAD_PATH')
    }
  })

  it('channels are capped by control.maxChannels (409 naming the setting), through the API and ingest', async () => {
    let n = 0
    while (
      ((await fetch(`${origin.control}/api/v1/channels`).then((r) => r.json())) as { total: number }).total <
      6
    ) {
      const r = await fetch(`${origin.control}/api/v1/channels/fill${n++}`, {
        method: 'PUT',
        headers: { ...auth, ...JSON_TYPE },
        body: channelBody,
      })
      assert.equal(r.status, 201)
    }
    const api = await errorOf(
      await fetch(`${origin.control}/api/v1/channels/onemore`, {
        method: 'PUT',
        headers: { ...auth, ...JSON_TYPE },
        body: channelBody,
      }),
    )
    assert.equal(api.status, 409)
    assert.equal(api.code, 'LIVEORIGIN_ERR_LIMIT_REACHED')
    assert.match(api.message, /control\.maxChannels/)
    const ingest = await errorOf(
      await fetch(`${origin.ingest}/implicit/a.bin`, {
        method: 'PUT',
        body: 'x',
        headers: { 'Pipeline-Id': 'east' },
      }),
    )
    assert.equal(ingest.status, 409)
    assert.equal(ingest.code, 'LIVEORIGIN_ERR_LIMIT_REACHED')
    // Existing channels still take writes.
    const again = await fetch(`${origin.control}/api/v1/channels/fill0`, {
      method: 'PUT',
      headers: { ...auth, ...JSON_TYPE },
      body: channelBody,
    })
    assert.equal(again.status, 200)
    assert.equal(
      (
        await fetch(`${origin.ingest}/fill0/a.bin`, {
          method: 'PUT',
          body: 'x',
          headers: { 'Pipeline-Id': 'east' },
        })
      ).status,
      201,
    )
  })

  it('masks per channel are capped by control.maxMasksPerChannel', async () => {
    const post = () =>
      fetch(`${origin.control}/api/v1/channels/fill0/masks`, {
        method: 'POST',
        headers: { ...auth, ...JSON_TYPE },
        body: JSON.stringify({ pipeline: 'east', from: 1, to: 2 }),
      })
    assert.equal((await post()).status, 201)
    assert.equal((await post()).status, 201)
    const e = await errorOf(await post())
    assert.equal(e.status, 409)
    assert.match(e.message, /control\.maxMasksPerChannel/)
  })

  it('GET /api/v1/channels pages through every channel in name order', async () => {
    const all = (await fetch(`${origin.control}/api/v1/channels?limit=1000`).then((r) => r.json())) as {
      channels: { name: string }[]
      total: number
      next: string | null
    }
    assert.equal(all.channels.length, all.total)
    assert.equal(all.next, null)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page = (await fetch(
        `${origin.control}/api/v1/channels?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      ).then((r) => r.json())) as typeof all
      assert.ok(page.channels.length <= 2)
      seen.push(...page.channels.map((c) => c.name))
      cursor = page.next
    } while (cursor)
    assert.deepEqual(seen, all.channels.map((c) => c.name).sort())
    assert.deepEqual(seen, [...seen].sort())
    for (const q of ['limit=0', 'limit=1001', 'limit=x', 'cursor=%2F']) {
      assert.equal((await fetch(`${origin.control}/api/v1/channels?${q}`)).status, 400, q)
    }
  })
})

describe('absolute-form request targets (RFC 9112 §3.2.2)', () => {
  let origin: TestOrigin
  before(async () => {
    origin = await startOrigin()
  })
  after(() => origin.close())

  it('are accepted on ingest, delivery and control, with the path of the URI', async () => {
    const { ingest, delivery, control } = origin.running.ports
    const put = await raw(
      ingest!,
      `PUT http://127.0.0.1:${ingest}/abs/v/1.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nPipeline-Id: east`,
      'absolute',
    )
    assert.equal(put.status, 201, put.text)
    const get = await raw(delivery!, `GET http://cdn.example/abs/v/1.bin HTTP/1.1\r\nHost: 127.0.0.1`)
    assert.equal(get.status, 200, get.text)
    assert.ok(get.text.endsWith('absolute'))
    const health = await raw(control!, `GET http://127.0.0.1:${control}/healthz HTTP/1.1\r\nHost: 127.0.0.1`)
    assert.equal(health.status, 200)
    // The path is still checked as sent: no decoding smuggles a traversal through.
    const bad = await raw(delivery!, `GET http://127.0.0.1/abs/%2e%2e/x HTTP/1.1\r\nHost: 127.0.0.1`)
    assert.equal(bad.status, 400)
  })
})
