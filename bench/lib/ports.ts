/**
 * Free TCP ports on loopback, for the servers the harness starts.
 */
import { createServer } from 'node:net'

/**
 * A port on `host` that was free a moment ago: the kernel picks it for a listener on port 0,
 * which is then closed. Another process could take it in between; the servers started on it
 * fail loudly in that case, and the harness reports the failure.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        server.close()
        reject(new Error('no port assigned'))
        return
      }
      const { port } = address
      server.close(() => resolve(port))
    })
  })
}
