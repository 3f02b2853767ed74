/** Reading the JSON error answers of every listener. */
import assert from 'node:assert/strict'

export interface ErrorAnswer {
  status: number
  code: string
  message: string
}

/**
 * The status and the `{"error": {"code", "message"}}` body of an error answer; fails the test
 * when the body does not have that shape.
 */
export async function errorOf(r: Response): Promise<ErrorAnswer> {
  const body = (await r.json()) as { error?: { code?: unknown; message?: unknown } }
  const { code, message } = body.error ?? {}
  assert.ok(
    typeof code === 'string' && typeof message === 'string',
    `not an error body: ${JSON.stringify(body)}`,
  )
  return { status: r.status, code, message }
}
