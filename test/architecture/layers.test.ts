// The import graph of `src/`: no cycle, no import from a lower layer to a higher one, and no
// module outside `server/` and `cli/` importing `server/` (the composition root). The layers
// are the ones drawn in docs/architecture.md; a new folder must be placed here before it can
// be imported.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, posix, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')

/**
 * Low → high. A module may import modules of its own folder, of a lower layer, and of no
 * other; folders that share a layer are peers and do not import one another.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts'],
  ['observability'],
  ['http'],
  ['timing'],
  ['media'],
  ['cache'],
  ['storage'],
  ['objects'],
  ['selection'],
  ['channels'],
  ['substitutes'],
  ['overload'],
  ['config'],
  ['peers'],
  ['ingest', 'delivery', 'control'],
  ['server', 'simulate', 'capacity'],
  ['cli'],
  ['index.ts'],
]

/** The folder (or root file) of a path relative to `src/`. */
function unitOf(file: string): string {
  return file.split('/')[0] as string
}

function rankOf(unit: string): number {
  const rank = LAYERS.findIndex((layer) => layer.includes(unit))
  assert.ok(rank >= 0, `src/${unit} is not placed in a layer (add it to LAYERS and docs/architecture.md)`)
  return rank
}

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) sources(path, out)
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

// `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`, relative only
// (packages and `node:` modules are outside the graph).
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g

/** Every relative import of `src/`, as paths relative to `src/` (`.js` written as `.ts`). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const path of sources(SRC)) {
    const from = relative(SRC, path).split('\\').join('/')
    const text = readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '')
    const targets: string[] = []
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] as string
      const to = posix.normalize(posix.join(posix.dirname(from), spec)).replace(/\.js$/, '.ts')
      targets.push(to)
    }
    graph.set(from, [...new Set(targets)].sort())
  }
  return graph
}

/** The imports that break the layering, as `from -> to` lines. */
function layerViolations(graph: Map<string, string[]>): string[] {
  const found: string[] = []
  for (const [from, targets] of graph) {
    const unit = unitOf(from)
    for (const to of targets) {
      const target = unitOf(to)
      if (target === unit) continue
      if (target === 'server' && unit !== 'cli' && unit !== 'index.ts') {
        found.push(`${from} -> ${to} (only cli/ imports the composition root)`)
      } else if (rankOf(target) >= rankOf(unit)) {
        const how = rankOf(target) === rankOf(unit) ? 'a peer of' : 'a higher layer than'
        found.push(`${from} -> ${to} (${target} is ${how} ${unit})`)
      }
    }
  }
  return found.sort()
}

/** The cycles of the module graph (one per strongly connected component of two or more modules). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0
  const indices = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (node: string): void => {
    indices.set(node, index)
    low.set(node, index)
    index++
    stack.push(node)
    onStack.add(node)
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue
      if (!indices.has(next)) {
        visit(next)
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number))
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, indices.get(next) as number))
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = []
      let member: string
      do {
        member = stack.pop() as string
        onStack.delete(member)
        component.push(member)
      } while (member !== node)
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort())
    }
  }
  for (const node of [...graph.keys()].sort()) if (!indices.has(node)) visit(node)
  return found
}

describe('the import graph of src/', () => {
  const graph = importGraph()

  it('reads every module and resolves every relative import to a file of src/', () => {
    assert.ok(graph.size > 50, `only ${graph.size} modules read`)
    const dangling = [...graph].flatMap(([from, targets]) =>
      targets.filter((to) => !graph.has(to)).map((to) => `${from} -> ${to}`),
    )
    assert.deepEqual(dangling, [])
  })

  it('has no cycle', () => {
    assert.deepEqual(cycles(graph), [])
  })

  it('imports only downwards: no module imports a higher layer, a peer folder, or server/', () => {
    assert.deepEqual(layerViolations(graph), [])
  })

  it('places every folder of src/ in a layer', () => {
    for (const from of graph.keys()) rankOf(unitOf(from))
  })
})

describe('the checks themselves', () => {
  it('finds a cycle and an upward import in a made-up graph', () => {
    const made = new Map<string, string[]>([
      ['timing/a.ts', ['delivery/b.ts']],
      ['delivery/b.ts', ['timing/a.ts', 'server/c.ts']],
      ['server/c.ts', []],
    ])
    assert.deepEqual(cycles(made), [['delivery/b.ts', 'timing/a.ts']])
    assert.deepEqual(layerViolations(made), [
      'delivery/b.ts -> server/c.ts (only cli/ imports the composition root)',
      'timing/a.ts -> delivery/b.ts (delivery is a higher layer than timing)',
    ])
  })
})
