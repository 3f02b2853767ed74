/**
 * The book of copies still uploading (docs/delivery.md#segments-in-progress): followers get
 * the chunks so far then each new one and the end, the first chunk is announced once, a
 * pipeline's new upload replaces its old one, the memory bound and the idle limit withdraw
 * copies and cut their followers off.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Follower, InProgressBook, type ProgressEvent } from '../../src/objects/in-progress.js'

function start(id: string, pipeline = 'east', idleMs = 60_000): ProgressEvent {
  return {
    type: 'progress-start',
    id,
    channel: 'ch',
    path: 'v/1.m4s',
    pipeline,
    contentType: 'video/mp4',
    startedAt: 1000,
    idleMs,
  }
}
const chunk = (id: string, text: string): ProgressEvent => ({
  type: 'progress-chunk',
  id,
  data: Buffer.from(text),
})

/** A follower that records what it was given. */
function recorder(): Follower & { got: string[]; ended: boolean | undefined } {
  const f = {
    got: [] as string[],
    ended: undefined as boolean | undefined,
    chunk: (b: Uint8Array) => f.got.push(Buffer.from(b).toString()),
    end: (complete: boolean) => {
      f.ended = complete
    },
  }
  return f
}

describe('InProgressBook', () => {
  it('offers a copy from its first chunk; a follower gets the chunks so far, then each one, then the end', () => {
    const firsts: string[] = []
    const book = new InProgressBook({ maxBytes: 1000, onFirstChunk: (c, p) => firsts.push(`${c}/${p}`) })
    book.apply(start('a'))
    assert.equal(book.has('ch', 'v/1.m4s'), true)
    assert.deepEqual(book.copies('ch', 'v/1.m4s'), [], 'no complete chunk yet: nothing to follow')
    book.apply(chunk('a', 'one'))
    book.apply(chunk('a', 'two'))
    assert.deepEqual(firsts, ['ch/v/1.m4s'], 'the first chunk is announced once')
    const [copy] = book.copies('ch', 'v/1.m4s')
    const f = recorder()
    book.follow(copy!, f)
    assert.deepEqual(f.got, ['one', 'two'])
    book.apply({ type: 'progress-chunk', id: 'a', data: Buffer.from('three').toString('base64') })
    assert.deepEqual(f.got, ['one', 'two', 'three'], 'base64 chunks from another process are decoded')
    assert.equal(book.bytes, 11)
    book.apply({ type: 'progress-end', id: 'a', complete: true })
    assert.equal(f.ended, true)
    assert.equal(book.has('ch', 'v/1.m4s'), false)
    assert.equal(book.bytes, 0)
  })

  it('a failed copy cuts its followers off; one who stopped following hears nothing', () => {
    const book = new InProgressBook({ maxBytes: 1000 })
    book.apply(start('a'))
    book.apply(chunk('a', 'one'))
    const [copy] = book.copies('ch', 'v/1.m4s')
    const stays = recorder()
    const leaves = recorder()
    book.follow(copy!, stays)
    book.follow(copy!, leaves)()
    book.apply({ type: 'progress-end', id: 'a', complete: false })
    assert.equal(stays.ended, false)
    assert.equal(leaves.ended, undefined)
    // Following a copy that has ended ends at once.
    const late = recorder()
    book.follow(copy!, late)
    assert.deepEqual(late.got, [])
    assert.equal(late.ended, false)
  })

  it("a pipeline's new upload replaces its old one; other pipelines' copies stay", () => {
    const book = new InProgressBook({ maxBytes: 1000 })
    book.apply(start('a', 'east'))
    book.apply(start('b', 'west'))
    book.apply(chunk('a', 'east-1'))
    book.apply(chunk('b', 'west-1'))
    const old = recorder()
    book.follow(book.copies('ch', 'v/1.m4s').find((c) => c.pipeline === 'east')!, old)
    book.apply(start('c', 'east'))
    assert.equal(old.ended, false)
    assert.equal(book.isOpen('a'), false)
    assert.deepEqual(
      book.copies('ch', 'v/1.m4s').map((c) => c.pipeline),
      ['west'],
    )
    assert.equal(book.bytes, 6)
  })

  it('withdraws a copy that would take the book past its bound, or one past a quarter of it', () => {
    const book = new InProgressBook({ maxBytes: 40 })
    book.apply(start('a', 'east'))
    book.apply(chunk('a', 'x'.repeat(10)))
    const f = recorder()
    book.follow(book.copies('ch', 'v/1.m4s')[0]!, f)
    book.apply(chunk('a', 'x'.repeat(1)))
    assert.equal(f.ended, false, 'one copy may hold a quarter of the book at most')
    assert.equal(book.isOpen('a'), false)
    assert.equal(book.bytes, 0)
    const others = ['b', 'c', 'd', 'e']
    for (const [i, id] of others.entries()) {
      book.apply({ ...start(id, `p${i}`), path: `v/${i}.m4s` } as ProgressEvent)
      book.apply(chunk(id, 'y'.repeat(10)))
    }
    assert.equal(book.bytes, 40)
    book.apply({ ...start('f', 'p9'), path: 'v/9.m4s' } as ProgressEvent)
    book.apply(chunk('f', 'z'))
    assert.equal(book.isOpen('f'), false, 'the book is full')
    assert.equal(book.bytes, 40)
  })

  it('fails a copy that hears nothing for its idle limit (its ingest process died)', async () => {
    const book = new InProgressBook({ maxBytes: 1000 })
    book.apply(start('a', 'east', 30))
    book.apply(chunk('a', 'one'))
    const f = recorder()
    book.follow(book.copies('ch', 'v/1.m4s')[0]!, f)
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(f.ended, false)
    assert.equal(book.size, 0)
  })
})
