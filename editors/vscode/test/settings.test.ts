import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import manifest from '../package.json';
import { explicitSettings, isEnabled, serverArgs, serverSettingKeys, toggledEnable } from '../src/settings';

describe('serverSettingKeys', () => {
  it("takes the server's keys from the manifest, not the extension's own", () => {
    const keys = serverSettingKeys(Object.keys(manifest.contributes.configuration.properties));
    assert.ok(keys.includes('model'));
    assert.ok(keys.includes('enable'));
    assert.ok(!keys.some((key) => key.startsWith('server') || key.startsWith('trace')));
    assert.ok(!keys.includes('apiKey'));
  });

  it('drops apiKey even if a manifest had it', () => {
    assert.deepEqual(serverSettingKeys(['codestral.apiKey', 'codestral.model', 'other.model']), ['model']);
  });
});

describe('explicitSettings', () => {
  it('sends only what the user set, the most specific scope winning', () => {
    const inspections: Record<string, object> = {
      model: { globalValue: 'codestral-2508', workspaceValue: 'codestral-2405' },
      maxTokens: { globalValue: 64 },
      temperature: {},
      endpoint: { globalValue: null },
    };
    const settings = explicitSettings(['model', 'maxTokens', 'temperature', 'endpoint', 'stop'], (key) => inspections[key]);
    assert.deepEqual(settings, { model: 'codestral-2405', maxTokens: 64 });
  });
});

describe('toggledEnable', () => {
  it('flips a boolean', () => {
    assert.equal(toggledEnable(true), false);
    assert.equal(toggledEnable(false), true);
    assert.equal(toggledEnable(undefined), false);
  });

  it('flips "*" of a per-language object and keeps the languages', () => {
    assert.deepEqual(toggledEnable({ markdown: false }), { markdown: false, '*': false });
    assert.deepEqual(toggledEnable({ '*': false, python: true }), { '*': true, python: true });
    assert.equal(isEnabled({ '*': false }), false);
    assert.equal(isEnabled({ markdown: false }), true);
  });
});

describe('serverArgs', () => {
  it('passes a valid log level only', () => {
    assert.deepEqual(serverArgs('debug'), ['--log-level', 'DEBUG']);
    assert.deepEqual(serverArgs('loud'), []);
    assert.deepEqual(serverArgs(undefined), []);
  });
});
