/**
 * Parsed init segments, for inspecting media segments on ingest: a segment is compared with
 * the init segment of its own pipeline (or, failing that, any pipeline's) for the same
 * rendition. Kept in memory after the first use; read from storage after a restart.
 */

import { type InitInfo, parseInit } from '../media/fmp4.js'
import type { ObjectReader } from '../objects/reader.js'
import type { ChannelConfig } from '../timing/channel-config.js'
import { initPathOf } from '../timing/template.js'

const MAX_ENTRIES = 4096

export class InitBook {
  readonly #reader: Pick<ObjectReader, 'candidates' | 'body'>
  /** key: channel/path/pipeline → token and parsed init. */
  readonly #book = new Map<string, { token: string; info: InitInfo | undefined }>()

  constructor(reader: Pick<ObjectReader, 'candidates' | 'body'>) {
    this.#reader = reader
  }

  /** Records an init segment just stored by this process. */
  remember(channel: string, path: string, pipeline: string, token: string, bytes: Buffer): void {
    this.#set(`${channel}/${path}/${pipeline}`, { token, info: safeParse(bytes) })
  }

  /**
   * The init segment of `rendition` as `pipeline` (else any pipeline) stored it; undefined
   * when none, or when the init template uses a value the rendition's segments do not name.
   */
  async get(
    channel: string,
    cfg: ChannelConfig,
    rendition: string,
    pipeline: string,
  ): Promise<InitInfo | undefined> {
    const path = initPathOf(cfg, rendition)
    if (path === undefined) return undefined
    const key = `${channel}/${path}/${pipeline}`
    const known = this.#book.get(key)
    if (known) return known.info
    const list = await this.#reader.candidates(channel, path)
    const meta = list.find((m) => m.pipeline === pipeline) ?? list[0]
    if (!meta) return undefined
    const info = safeParse(await this.#reader.body(meta))
    if (meta.pipeline === pipeline) this.#set(key, { token: meta.token, info })
    return info
  }

  #set(key: string, value: { token: string; info: InitInfo | undefined }): void {
    this.#book.delete(key)
    this.#book.set(key, value)
    if (this.#book.size > MAX_ENTRIES) this.#book.delete(this.#book.keys().next().value!)
  }
}

function safeParse(bytes: Buffer): InitInfo | undefined {
  try {
    return parseInit(bytes)
  } catch {
    return undefined
  }
}
