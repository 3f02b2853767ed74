import assert from 'node:assert/strict'
import { it } from 'node:test'
import { ShedLog } from '../../src/overload/shed-log.js'

interface Line {
  obj: Record<string, unknown>
  msg: string
}

function logger() {
  const lines: Line[] = []
  let waiter: (() => void) | undefined
  return {
    lines,
    log: {
      warn(obj: Record<string, unknown>, msg: string) {
        lines.push({ obj, msg })
        waiter?.()
      },
    },
    /** Resolves once there are `n` lines (a referenced timer keeps the test alive meanwhile). */
    async until(n: number) {
      const alive = setTimeout(() => {}, 60_000)
      while (lines.length < n) await new Promise<void>((res) => (waiter = res))
      clearTimeout(alive)
    },
  }
}

it('logs the first refusal of a class at once, then one line per interval with the count since the last', async () => {
  const clock = { now: 1000 }
  const l = logger()
  const shed = new ShedLog(l.log, { intervalMs: 1000, now: () => clock.now })
  shed.shed('dvr', { pressure: 3 })
  assert.equal(l.lines.length, 1)
  assert.deepEqual(l.lines[0]!.obj, { pressure: 3, class: 'dvr', shed: 1, sinceMs: null })
  assert.match(l.lines[0]!.msg, /shed/)
  clock.now = 1500
  for (let i = 0; i < 99; i++) shed.shed('dvr')
  shed.shed('live')
  assert.equal(l.lines.length, 2, 'another class has its own line')
  assert.deepEqual(l.lines[1]!.obj, { class: 'live', shed: 1, sinceMs: null })
  clock.now = 2000
  shed.shed('dvr')
  assert.equal(l.lines.length, 3, 'the interval has passed: the count is written')
  assert.deepEqual(l.lines[2]!.obj, { class: 'dvr', shed: 100, sinceMs: 1000 })
  shed.flush()
  assert.equal(l.lines.length, 3, 'nothing pending')
  clock.now = 2100
  shed.shed('dvr')
  shed.shed('dvr')
  shed.flush()
  assert.deepEqual(l.lines[3]!.obj, { class: 'dvr', shed: 2, sinceMs: 100 })
})

it('writes a count left when refusals stop once its interval ends', async () => {
  const l = logger()
  const shed = new ShedLog(l.log, { intervalMs: 30 })
  shed.shed('dvr', { pressure: 1 })
  shed.shed('dvr', { pressure: 2 })
  shed.shed('dvr', { pressure: 3 })
  assert.equal(l.lines.length, 1)
  await l.until(2)
  assert.equal(l.lines[1]!.obj.shed, 2)
  assert.equal(l.lines[1]!.obj.pressure, 3, 'the latest refusal’s context')
  assert.ok((l.lines[1]!.obj.sinceMs as number) >= 29, `sinceMs ${l.lines[1]!.obj.sinceMs}`)
})

it('never writes a pending count before its interval has passed on its clock, even if a timer fires early', async () => {
  const clock = { now: 1000 }
  const l = logger()
  const shed = new ShedLog(l.log, { intervalMs: 20, now: () => clock.now })
  shed.shed('dvr')
  clock.now = 1000.5
  shed.shed('dvr')
  // Real timers fire while the log's clock stands still: the interval has not passed on it.
  await new Promise((res) => setTimeout(res, 80))
  assert.equal(l.lines.length, 1, 'no second line before the interval ends')
  clock.now = 1020
  await l.until(2)
  assert.deepEqual(l.lines[1]!.obj, { class: 'dvr', shed: 1, sinceMs: 20 })
})
