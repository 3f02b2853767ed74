/**
 * The address this node's control listener is reached at by its peers, written in its
 * heartbeat record: `peers.advertiseUrl`, else `http://<host>:<port>`; with a wildcard host
 * (0.0.0.0, ::), the machine's first non-loopback IPv4 address.
 */
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', ''])

export function advertisedUrl(host: string, port: number, configured?: string): string {
  if (configured !== undefined) return configured.replace(/\/+$/, '')
  let name = host
  if (WILDCARDS.has(host)) {
    name = '127.0.0.1'
    for (const addresses of Object.values(networkInterfaces())) {
      const found = addresses?.find((a) => a.family === 'IPv4' && !a.internal)
      if (found) {
        name = found.address
        break
      }
    }
  }
  return `http://${isIP(name) === 6 ? `[${name}]` : name}:${port}`
}

/** The host name of `peers.advertiseUrl`, which the control listener accepts in `Host`. */
export function advertisedHost(configured: string | undefined): string | undefined {
  if (configured === undefined) return undefined
  try {
    return new URL(configured).hostname
  } catch {
    return undefined
  }
}
