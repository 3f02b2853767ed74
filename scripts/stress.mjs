#!/usr/bin/env node
// Keeps the machine's cores busy for a bounded time, to check that tests hold on a loaded
// machine (docs/testing.md, "Under load"). Each worker thread spins in a busy loop; all stop
// after --seconds (default 60) or when the command given after `--` exits.
//   node scripts/stress.mjs --workers=2 --seconds=30            load for 30 s
//   node scripts/stress.mjs --seconds=1800 -- npm test           npm test under load; its exit status
import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

const argv = process.argv.slice(2)
const dash = argv.indexOf('--')
const own = dash === -1 ? argv : argv.slice(0, dash)
const command = dash === -1 ? [] : argv.slice(dash + 1)
const opt = (name, fallback) => {
  const a = own.find((x) => x.startsWith(`--${name}=`))
  const v = a === undefined ? fallback : Number(a.slice(name.length + 3))
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`--${name} must be a positive number`)
    process.exit(2)
  }
  return v
}
const workers = Math.floor(opt('workers', availableParallelism()))
const seconds = opt('seconds', 60)

// Each worker spins until its deadline, checking the clock every few million iterations.
const body = `
const { workerData } = require('node:worker_threads')
let x = 0
while (Date.now() < workerData.until) {
  for (let i = 0; i < 5e6; i++) x = (x * 1103515245 + 12345) % 2147483648
}
`
const until = Date.now() + seconds * 1000
const threads = Array.from({ length: workers }, () => new Worker(body, { eval: true, workerData: { until } }))
console.error(`stress: ${workers} busy thread(s) for at most ${seconds} s`)
const stopAll = () => Promise.all(threads.map((t) => t.terminate()))

if (command.length === 0) {
  await Promise.all(threads.map((t) => new Promise((resolve) => t.once('exit', resolve))))
  console.error('stress: done')
} else {
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit' })
  const timer = setTimeout(
    () => console.error(`stress: load ended after ${seconds} s, command still running`),
    seconds * 1000,
  )
  timer.unref()
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))))
  await stopAll()
  console.error(`stress: command exited with ${code}`)
  process.exit(code)
}
