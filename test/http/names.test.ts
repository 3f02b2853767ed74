import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LiveOriginError } from '../../src/errors.js'
import { checkChannelName, parseObjectName } from '../../src/http/names.js'

/** Asserts that `target` is refused with 400 BAD_PATH and returns the message. */
function refused(target: string, allowQuery = true): string {
  try {
    parseObjectName(target, allowQuery)
  } catch (err) {
    assert.ok(err instanceof LiveOriginError, `${JSON.stringify(target)} threw ${err}`)
    assert.equal(err.code, 'LIVEORIGIN_ERR_BAD_PATH')
    assert.equal(err.status, 400)
    assert.match(err.message, /^invalid object path: /)
    return err.message.slice('invalid object path: '.length)
  }
  assert.fail(`${JSON.stringify(target)} was accepted`)
}

function channelRefused(channel: string): string {
  try {
    checkChannelName(channel)
  } catch (err) {
    assert.ok(err instanceof LiveOriginError)
    assert.equal(err.code, 'LIVEORIGIN_ERR_BAD_PATH')
    return err.message.slice('invalid object path: '.length)
  }
  assert.fail(`channel ${JSON.stringify(channel)} was accepted`)
}

/** A string of `n` characters `c`. */
const rep = (c: string, n: number) => c.repeat(n)

describe('parseObjectName', () => {
  it('splits channel, object path and query', () => {
    assert.deepEqual(parseObjectName('/live/video/12.m4s', true), {
      channel: 'live',
      path: 'video/12.m4s',
      query: '',
    })
    assert.deepEqual(parseObjectName('/live/manifest.mpd?_HLS_msn=5&_HLS_part=1', true), {
      channel: 'live',
      path: 'manifest.mpd',
      query: '_HLS_msn=5&_HLS_part=1',
    })
    assert.deepEqual(parseObjectName('/live/a?', true), { channel: 'live', path: 'a', query: '' })
    assert.deepEqual(parseObjectName('/c/a/b/c/d', false), { channel: 'c', path: 'a/b/c/d', query: '' })
  })

  it('refuses a query string on ingest, and only there', () => {
    assert.equal(refused('/live/a.m4s?x=1', false), 'query strings are not allowed on ingest')
    assert.equal(refused('/live/a.m4s?', false), 'query strings are not allowed on ingest')
    assert.equal(parseObjectName('/live/a.m4s?x=1', true).query, 'x=1')
  })

  it('refuses "." and ".." in every position (path traversal)', () => {
    // These segments pass the character set: only the segment check keeps them out.
    for (const [target, seg] of [
      ['/live/../secret', '..'],
      ['/live/a/../../etc/passwd', '..'],
      ['/live/video/..', '..'],
      ['/live/./init.mp4', '.'],
      ['/live/video/.', '.'],
      ['/../live/x', '..'],
      ['/./x', '.'],
    ] as const) {
      assert.equal(refused(target), `path segment "${seg}" is not allowed`, target)
    }
    // Dots that do not form a whole "." or ".." segment are ordinary names.
    for (const name of ['...', '.hidden', 'a..b', 'x.', '..a']) {
      assert.equal(parseObjectName(`/live/${name}`, true).path, name)
    }
  })

  it('refuses percent-encoding, so that encoded separators and dots never reach storage', () => {
    assert.equal(refused('/live/%2e%2e/x'), 'percent-encoded characters are not allowed ("%2e%2e")')
    assert.equal(refused('/live/a%2fb'), 'percent-encoded characters are not allowed ("a%2fb")')
    assert.equal(refused('/li%76e/a'), 'percent-encoded characters are not allowed ("li%76e")')
  })

  it('needs a leading /', () => {
    assert.equal(refused('live/a.m4s'), 'path must start with /')
    assert.equal(refused(''), 'path must start with /')
    assert.equal(refused('?x=1'), 'path must start with /')
    assert.equal(refused('http://host/live/a.m4s'), 'path must start with /')
  })

  it('needs /{channel}/{path}', () => {
    assert.equal(refused('/live'), 'path must be /{channel}/{object path}')
    assert.equal(refused('/'), 'path must be /{channel}/{object path}')
    assert.equal(refused('/live?x=1'), 'path must be /{channel}/{object path}')
  })

  it('refuses empty segments', () => {
    assert.equal(refused('/live/'), 'empty path segment')
    assert.equal(refused('//a'), 'empty path segment')
    assert.equal(refused('/live//a'), 'empty path segment')
    assert.equal(refused('/live/a/'), 'empty path segment')
  })

  it('allows exactly the characters A-Z a-z 0-9 . _ - in object path segments', () => {
    for (const c of ['A', 'M', 'Z', 'a', 'm', 'z', '0', '5', '9', '.', '_', '-']) {
      assert.equal(parseObjectName(`/live/${c}x${c}`, true).path, `${c}x${c}`, c)
      if (c !== '.') assert.equal(parseObjectName(`/live/${c}`, true).path, c)
    }
    // Neighbours of each allowed range, and characters that mean something elsewhere.
    for (const c of [
      '@',
      '[',
      '`',
      '{',
      ':',
      ' ',
      '~',
      '+',
      '*',
      '!',
      '$',
      '&',
      "'",
      '(',
      ',',
      ';',
      '=',
      'é',
      '\t',
    ]) {
      const msg = refused(`/live/a${c}b`)
      assert.match(msg, /^path segment ".*" must match \[A-Za-z0-9\._-\]\{1,255\}$/, JSON.stringify(c))
    }
    assert.equal(refused('/live/a b'), 'path segment "a b" must match [A-Za-z0-9._-]{1,255}')
  })

  it('limits a segment to 255 bytes', () => {
    const ok = rep('s', 255)
    assert.equal(parseObjectName(`/live/${ok}`, true).path, ok)
    assert.equal(refused(`/live/${rep('s', 256)}`), 'path segment longer than 255 bytes (256)')
    assert.equal(refused(`/${rep('c', 256)}/a`), 'path segment longer than 255 bytes (256)')
  })

  it('limits the path to 1024 bytes, query not counted', () => {
    // "/c" + four segments: 2 + 4 slashes + 255 + 255 + 255 + n
    const path = (n: number) => `/c/${rep('a', 255)}/${rep('b', 255)}/${rep('d', 255)}/${rep('e', n)}`
    assert.equal(path(253).length, 1024)
    assert.equal(parseObjectName(path(253), true).channel, 'c')
    assert.equal(parseObjectName(`${path(253)}?${rep('q', 2000)}`, true).query.length, 2000)
    assert.equal(refused(path(254)), 'path longer than 1024 bytes')
    // The length check comes first: a long path with a bad segment is refused for its length.
    assert.equal(refused(`/c/${rep('a', 1030)}`), 'path longer than 1024 bytes')
  })

  it('checks the channel name in the channel position', () => {
    assert.match(refused('/-live/a'), /^channel "-live" must match/)
    assert.match(refused('/live!/a'), /^channel "live!" must match/)
    assert.equal(parseObjectName(`/${rep('c', 128)}/a`, true).channel, rep('c', 128))
    assert.match(refused(`/${rep('c', 129)}/a`), /^channel "c{64}…" must match/)
  })
})

describe('checkChannelName', () => {
  it('accepts a letter or digit, then up to 127 of A-Z a-z 0-9 . _ -', () => {
    for (const first of ['A', 'Z', 'a', 'z', '0', '9', 'M', '5']) {
      checkChannelName(first)
      checkChannelName(`${first}.x_y-z`)
    }
    for (const c of ['A', 'Z', 'a', 'z', '0', '9', '.', '_', '-']) checkChannelName(`x${c}${c}`)
    checkChannelName(`a${rep('b', 127)}`)
  })

  it('refuses names that do not start with a letter or digit', () => {
    for (const first of ['.', '_', '-', '@', '[', '`', '{', ':', '/']) {
      assert.equal(
        channelRefused(`${first}live`),
        `channel "${first}live" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
      )
    }
    assert.match(channelRefused(''), /^channel "" must match/)
  })

  it('refuses other characters anywhere, and names longer than 128', () => {
    for (const c of ['@', '[', '`', '{', ':', '/', ' ', '~', '%', 'é']) {
      assert.match(channelRefused(`li${c}ve`), /must match/, JSON.stringify(c))
      assert.match(channelRefused(`live${c}`), /must match/, JSON.stringify(c))
    }
    assert.match(channelRefused(`a${rep('b', 128)}`), /must match/)
  })

  it('shows the name printable in the message: control characters, quotes and backslashes escaped', () => {
    assert.equal(channelRefused('a\nb'), 'channel "a\\x0ab" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}')
    assert.match(channelRefused('a"b'), /^channel "a\\x22b" must/)
    assert.match(channelRefused('a\\b'), /^channel "a\\x5cb" must/)
    assert.match(channelRefused('a\x00b'), /^channel "a\\x00b" must/)
    assert.match(channelRefused('a\x01b'), /^channel "a\\x01b" must/)
    assert.match(channelRefused('a\x1fb'), /^channel "a\\x1fb" must/)
    assert.match(channelRefused('a\x7fb'), /^channel "a\\x7fb" must/)
    // Printable characters just inside the escaped ranges stay as they are.
    assert.match(channelRefused('a b'), /^channel "a b" must/)
    assert.match(channelRefused('a~b'), /^channel "a~b" must/)
    assert.match(channelRefused('a!b'), /^channel "a!b" must/)
    assert.match(channelRefused('aéb'), /^channel "aéb" must/)
    assert.match(channelRefused('a\x80b'), /^channel "a\x80b" must/)
  })

  it('cuts a long name to 64 characters in the message', () => {
    const n64 = `-${rep('x', 63)}`
    assert.equal(channelRefused(n64), `channel "${n64}" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`)
    const n65 = `${n64}y`
    assert.equal(channelRefused(n65), `channel "${n64}…" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`)
    // Escaping applies to the cut text, not before cutting.
    assert.equal(
      channelRefused(`${rep('\n', 70)}`),
      `channel "${rep('\\x0a', 64)}…" must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
    )
  })

  it('escapes segment and percent-encoded names in parseObjectName messages too', () => {
    assert.equal(refused('/live/a\x1bb'), 'path segment "a\\x1bb" must match [A-Za-z0-9._-]{1,255}')
    assert.equal(refused('/live/a"%22'), 'percent-encoded characters are not allowed ("a\\x22%22")')
    assert.equal(
      refused(`/live/${rep('\\', 65)}`),
      `path segment "${rep('\\x5c', 64)}…" must match [A-Za-z0-9._-]{1,255}`,
    )
  })
})

describe('the one-test path check agrees with the rule-by-rule check', () => {
  /** The rules of docs/protocol.md#paths-and-names, one by one, as the parser applies them. */
  function byRules(path: string): { channel: string; path: string } | undefined {
    if (path.length > 1024 || path[0] !== '/') return undefined
    const parts = path.slice(1).split('/')
    if (parts.length < 2) return undefined
    for (let i = 0; i < parts.length; i++) {
      const seg = parts[i]!
      if (seg === '' || seg === '.' || seg === '..' || seg.includes('%') || seg.length > 255) return undefined
      if (!(i === 0 ? /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/ : /^[A-Za-z0-9._-]{1,255}$/).test(seg))
        return undefined
    }
    return { channel: parts[0]!, path: parts.slice(1).join('/') }
  }

  it('on 20,000 paths built from separators, dots, edge lengths and stray characters', () => {
    const pieces = [
      'a',
      'B9',
      'c',
      '-',
      '_',
      '.',
      '..',
      '',
      '%2F',
      ' ',
      'é',
      'x'.repeat(127),
      'y'.repeat(255),
      'z'.repeat(256),
    ]
    let seed = 12345
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const segment = () => {
      const a = pieces[rand(pieces.length)]!
      return rand(3) === 0 ? a + pieces[rand(pieces.length)]! : rand(2) === 0 ? a : 'seg'
    }
    let accepted = 0
    for (let i = 0; i < 20_000; i++) {
      const segments = Array.from({ length: 1 + rand(5) }, segment)
      const path = (rand(20) === 0 ? '' : '/') + segments.join('/')
      const expected = byRules(path)
      if (expected === undefined) {
        refused(path)
      } else {
        accepted++
        assert.deepEqual(parseObjectName(path, true), { ...expected, query: '' }, path)
      }
    }
    assert.ok(accepted > 1000, `only ${accepted} valid paths generated`)
  })
})
