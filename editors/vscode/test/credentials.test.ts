import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  buildServerEnv,
  defaultKeyKind,
  describeKey,
  parseStoredKey,
  serializeKey,
  validateKey,
} from '../src/credentials';

const KEY = 'sk-test-0123456789';

describe('the server environment', () => {
  it('makes the stored key the only key variable', () => {
    const base = { PATH: '/bin', CODESTRAL_API_KEY: 'from-shell', MISTRAL_API_KEY: 'other', EMPTY: undefined };
    assert.deepEqual(buildServerEnv(base, { kind: 'codestral', key: KEY }), {
      PATH: '/bin',
      CODESTRAL_API_KEY: KEY,
    });
    assert.deepEqual(buildServerEnv(base, { kind: 'mistral', key: KEY }), { PATH: '/bin', MISTRAL_API_KEY: KEY });
  });

  it('keeps keys from the shell when none is stored', () => {
    const base = { PATH: '/bin', MISTRAL_API_KEY: 'from-shell' };
    assert.deepEqual(buildServerEnv(base, undefined), base);
  });

  it('does not change the environment it was given', () => {
    const base = { CODESTRAL_API_KEY: 'shell' };
    buildServerEnv(base, { kind: 'mistral', key: KEY });
    assert.deepEqual(base, { CODESTRAL_API_KEY: 'shell' });
  });

  it('describes the key without showing it', () => {
    const stored = describeKey({ kind: 'codestral', key: KEY }, {});
    assert.equal(stored, "CODESTRAL_API_KEY from VS Code's secret storage");
    assert.ok(!stored.includes(KEY));
    assert.equal(describeKey(undefined, { MISTRAL_API_KEY: KEY }), 'MISTRAL_API_KEY from the environment');
    assert.equal(describeKey(undefined, {}), 'no key');
  });
});

describe('stored keys', () => {
  it('round-trips through SecretStorage text', () => {
    const stored = { kind: 'mistral' as const, key: KEY };
    assert.deepEqual(parseStoredKey(serializeKey(stored)), stored);
  });

  it('treats anything unreadable as no key', () => {
    for (const raw of [undefined, '', 'not json', '{"kind":"other","key":"x"}', '{"kind":"mistral","key":""}', 'null']) {
      assert.equal(parseStoredKey(raw), undefined, String(raw));
    }
  });

  it('guesses the kind from the endpoint setting', () => {
    assert.equal(defaultKeyKind(undefined), 'codestral');
    assert.equal(defaultKeyKind('https://codestral.mistral.ai'), 'codestral');
    assert.equal(defaultKeyKind('https://api.mistral.ai/'), 'mistral');
    assert.equal(defaultKeyKind('not a url'), 'codestral');
  });

  it('rejects empty, spaced and too short input', () => {
    assert.ok(validateKey(''));
    assert.ok(validateKey('abc def ghi'));
    assert.ok(validateKey('short'));
    assert.equal(validateKey(`  ${KEY}  `), undefined);
  });
});
