import './setup';

import assert from 'node:assert/strict';
import Module from 'node:module';
import { describe, it } from 'node:test';

import type { ClientCapabilities } from 'vscode-languageclient';

import { StatusNotificationFeature } from '../src/capabilities';

describe('StatusNotificationFeature', () => {
  it('opts in to codestral/status in the client capabilities', () => {
    const capabilities: ClientCapabilities = {};
    new StatusNotificationFeature().fillClientCapabilities(capabilities);
    assert.deepEqual(capabilities.experimental, { codestral: { statusNotification: true } });
  });

  it('keeps the experimental capabilities other features filled', () => {
    const capabilities: ClientCapabilities = {
      experimental: { snippetTextEdit: true, codestral: { somethingElse: 1 } },
    };
    new StatusNotificationFeature().fillClientCapabilities(capabilities);
    assert.deepEqual(capabilities.experimental, {
      snippetTextEdit: true,
      codestral: { somethingElse: 1, statusNotification: true },
    });
  });

  it('replaces an experimental value that is not an object', () => {
    const capabilities = { experimental: 'odd' } as unknown as ClientCapabilities;
    new StatusNotificationFeature().fillClientCapabilities(capabilities);
    assert.deepEqual(capabilities.experimental, { codestral: { statusNotification: true } });
  });

  it('is a static feature', () => {
    assert.deepEqual(new StatusNotificationFeature().getState(), { kind: 'static' });
  });
});

describe('ClientServer', () => {
  it('registers the status opt-in on its language client', () => {
    // A stand-in for vscode-languageclient/node that records what the client is given.
    const registered: unknown[] = [];
    class FakeLanguageClient {
      constructor(..._args: unknown[]) {}
      registerFeature(feature: unknown): void {
        registered.push(feature);
      }
      onNotification(): void {}
      onDidChangeState(): void {}
    }
    const fake = {
      LanguageClient: FakeLanguageClient,
      State: { Stopped: 1, Running: 2, Starting: 3 },
      ResponseError: class {},
      DidChangeConfigurationNotification: { type: {} },
      ExecuteCommandRequest: { type: {} },
    };
    const loader = Module as unknown as { _load(request: string, ...rest: unknown[]): unknown };
    const load = loader._load;
    loader._load = function (this: unknown, request: string, ...rest: unknown[]) {
      return request === 'vscode-languageclient/node' ? fake : load.call(this, request, ...rest);
    };
    const clientModule = require.resolve('../src/client');
    delete require.cache[clientModule];
    try {
      const { ClientServer } = require('../src/client');
      const output = { info() {}, error() {}, debug() {}, show() {} };
      const hooks = { storedKey: async () => undefined, onStatus() {}, onConnection() {} };
      new ClientServer(output, hooks, []);
    } finally {
      loader._load = load;
      delete require.cache[clientModule];
    }
    const features = registered.filter((f) => f instanceof StatusNotificationFeature);
    assert.equal(features.length, 1);
    const capabilities: ClientCapabilities = {};
    (features[0] as StatusNotificationFeature).fillClientCapabilities(capabilities);
    assert.deepEqual(capabilities.experimental, { codestral: { statusNotification: true } });
  });
});
