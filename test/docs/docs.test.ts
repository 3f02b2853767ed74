import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { it } from 'node:test'
import { configurationDoc } from '../../scripts/config-doc.js'
import { errors } from '../../src/errors.js'

it('every error code is documented in docs/errors.md with its status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  for (const factory of Object.values(errors)) {
    assert.match(doc, new RegExp(`\\| \`${factory.code}\` \\| ${factory.status} \\|`), factory.code)
  }
})

it('docs/configuration.md is what scripts/config-doc.ts writes from the settings table', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
  assert.equal(doc, configurationDoc(), 'run: node --import tsx scripts/config-doc.ts')
})
