/**
 * The thread side of `MpdLearner`: parses the MPDs it is sent and answers what they teach,
 * so that parsing a large MPD never stalls the ingest event loop.
 */
import { parentPort } from 'node:worker_threads'
import { isLiveOriginError } from '../errors.js'
import { learnChannelFromMpd } from '../timing/mpd.js'

parentPort?.on('message', (job: { id: number; xml: string; path: string }) => {
  try {
    parentPort?.postMessage({ id: job.id, learned: learnChannelFromMpd(job.xml, { path: job.path }) })
  } catch (err) {
    // A catalogued error keeps its code across the thread (e.g. BAD_MPD refuses the PUT).
    if (isLiveOriginError(err))
      parentPort?.postMessage({ id: job.id, error: err.message, code: err.code, status: err.status })
    else parentPort?.postMessage({ id: job.id, error: `MPD could not be read: ${(err as Error).message}` })
  }
})
