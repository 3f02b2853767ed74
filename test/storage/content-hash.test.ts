import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { contentHash } from '../../src/storage/content-hash.js'
import { xxh64Etag } from '../helpers/xxh64.js'
import { patternBytes } from './driver-conformance.js'

/** The ETag of `bytes` hashed in one piece. */
async function contentEtag(bytes: Uint8Array): Promise<string> {
  const hash = await contentHash()
  hash.update(bytes)
  return hash.etag()
}

describe('content hash (the ETag of stored bytes)', () => {
  it('is XXH64 with seed 0, 16 hexadecimal digits in quotes', async () => {
    assert.equal(await contentEtag(new Uint8Array()), '"ef46db3751d8e999"')
    assert.equal(await contentEtag(Buffer.from('abc')), '"44bc2cf5ad770999"')
    for (const size of [1, 31, 32, 33, 1000]) {
      const data = patternBytes(size, size)
      assert.equal(await contentEtag(data), xxh64Etag(data), `${size} bytes`)
    }
  })

  it('hashes a piece larger than the WebAssembly slice the same as the bytes in small pieces', async () => {
    const data = patternBytes(3 * 65_536 + 123, 9)
    const whole = await contentHash()
    whole.update(data)
    const pieces = await contentHash()
    for (let at = 0; at < data.byteLength; at += 1000) pieces.update(data.subarray(at, at + 1000))
    assert.equal(whole.etag(), xxh64Etag(data))
    assert.equal(pieces.etag(), xxh64Etag(data))
  })

  it('keeps hashes in progress apart', async () => {
    const a = patternBytes(100_000, 1)
    const b = patternBytes(100_000, 2)
    const [ha, hb] = [await contentHash(), await contentHash()]
    for (let at = 0; at < a.byteLength; at += 4096) {
      ha.update(a.subarray(at, at + 4096))
      hb.update(b.subarray(at, at + 4096))
    }
    assert.equal(ha.etag(), xxh64Etag(a))
    assert.equal(hb.etag(), xxh64Etag(b))
    assert.notEqual(ha.etag(), hb.etag())
  })
})
