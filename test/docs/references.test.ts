/**
 * References a maintainer follows must lead somewhere: no section numbers of a document that
 * is not in the repository, and every link to a doc (Markdown links in `*.md`, `docs/….md`
 * paths in code comments) names a file that exists and, with `#anchor`, a heading in it.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
/** Generated, installed or binary trees, and files that are not prose or code. */
const SKIP_DIRS = new Set([
  'node_modules',
  'dist',
  'data',
  'reports',
  '.git',
  '.bench',
  '.run',
  '.stryker-tmp',
])
const TEXT = /\.(ts|mjs|js|md|sh|ya?ml|vcl|conf|html|css)$/

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) {
      if (!SKIP_DIRS.has(name)) walk(p, out)
    } else if (TEXT.test(name)) out.push(p)
  }
  return out
}

const files = walk(ROOT).map((p) => ({ path: relative(ROOT, p), text: readFileSync(p, 'utf8') }))

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors of a Markdown file's headings (outside code fences), repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced
    const m = fenced ? null : /^#{1,6} (.+)$/.exec(line)
    if (!m) continue
    const base = slug(m[1]!)
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${n}`)
  }
  return anchors
}

const anchorCache = new Map<string, Set<string>>()
function anchors(file: string): Set<string> {
  let a = anchorCache.get(file)
  if (!a) {
    a = anchorsOf(readFileSync(file, 'utf8'))
    anchorCache.set(file, a)
  }
  return a
}

/** Why `target` (a path with an optional `#anchor`, relative to `base`) leads nowhere, or undefined. */
function broken(base: string, target: string): string | undefined {
  const [path, anchor] = target.split('#') as [string, string | undefined]
  const file = path === '' ? base : resolve(dirname(base), path)
  if (!existsSync(file)) return `no file ${relative(ROOT, file)}`
  if (anchor === undefined || !file.endsWith('.md')) return undefined
  return anchors(file).has(anchor) ? undefined : `no heading #${anchor} in ${relative(ROOT, file)}`
}

// Built from pieces, so that this file does not name what it looks for.
const SPEC_WORD = new RegExp(`\\b${'SP'}EC\\b`)
/** A section sign and a whole number: a section of a document not in the repository (dotted RFC/ISO sections are fine). */
const BARE_SECTION = /§\s*\d+(?![\d.]*\.\d)/

describe('references in the repository', () => {
  it('the folders it reads are there', () => {
    for (const dir of ['src', 'test', 'bench', 'docs', 'scripts']) {
      assert.ok(
        files.some((f) => f.path.startsWith(`${dir}/`)),
        dir,
      )
    }
  })

  it('no reference to section numbers of a document that is not in the repository', () => {
    const found: string[] = []
    for (const { path, text } of files) {
      text.split('\n').forEach((line, i) => {
        if (SPEC_WORD.test(line) || BARE_SECTION.test(line)) found.push(`${path}:${i + 1}: ${line.trim()}`)
      })
    }
    assert.deepEqual(found, [], 'point these at docs/protocol.md or another doc')
  })

  it('every Markdown link to a local file or anchor leads somewhere', () => {
    const found: string[] = []
    for (const { path, text } of files.filter((f) => f.path.endsWith('.md'))) {
      let fenced = false
      text.split('\n').forEach((line, i) => {
        if (line.startsWith('```')) fenced = !fenced
        if (fenced) return
        for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
          const target = m[1]!
          if (/^[a-z]+:/i.test(target)) continue
          const why = broken(join(ROOT, path), target)
          if (why) found.push(`${path}:${i + 1}: ${target}: ${why}`)
        }
      })
    }
    assert.deepEqual(found, [])
  })

  it('every docs/….md path named in code names a file, and its anchors a heading', () => {
    const found: string[] = []
    for (const { path, text } of files.filter((f) => !f.path.endsWith('.md'))) {
      text.split('\n').forEach((line, i) => {
        for (const m of line.matchAll(/\bdocs\/([\w-]+\.md)((?:#[\w-]+)?)((?:, #[\w-]+)*)/g)) {
          const doc = join(ROOT, 'docs', m[1]!)
          const targets = [m[2]!, ...(m[3]!.match(/#[\w-]+/g) ?? [])].map((a) => `${m[1]}${a}`)
          for (const t of targets) {
            const why = broken(doc, t)
            if (why) found.push(`${path}:${i + 1}: docs/${t}: ${why}`)
          }
        }
      })
    }
    assert.deepEqual(found, [])
  })

  it('anchors are computed as GitHub does, and a missing anchor or file is caught', () => {
    assert.equal(slug("One segment's life"), 'one-segments-life')
    assert.equal(slug('API (`src/timing/`)'), 'api-srctiming')
    assert.equal(slug('Drills: creating pressure on purpose'), 'drills-creating-pressure-on-purpose')
    assert.deepEqual([...anchorsOf('# A\n## B\n```\n# not a heading\n```\n## B\n')], ['a', 'b', 'b-1'])
    const protocol = join(ROOT, 'docs/protocol.md')
    assert.equal(broken(protocol, 'timing.md#no-contradicted-answers'), undefined)
    assert.match(broken(protocol, 'timing.md#no-such-heading') ?? '', /no heading/)
    assert.match(broken(protocol, 'no-such-doc.md') ?? '', /no file/)
    assert.ok(BARE_SECTION.test('as \u00a77 says') && !BARE_SECTION.test('RFC 9110 §13.1.2'))
  })
})
