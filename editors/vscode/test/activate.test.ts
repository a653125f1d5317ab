/**
 * Smoke test of the bundle VS Code loads (out/extension.js, built by `npm run build`): it
 * activates against the mocked `vscode` (made lenient: the language client touches many APIs
 * that only need to exist), registers its commands, and says how to fix a missing server.
 */

import './setup';

import assert from 'node:assert/strict';
import Module from 'node:module';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';

import manifest from '../package.json';
import * as vscodeMock from './mock/vscode';

const { mock, MemorySecrets, Disposable } = vscodeMock;

const NAMESPACES = ['workspace', 'window', 'languages', 'env', 'commands', 'notebooks', 'extensions'];

function lenientVscode(): unknown {
  const noop = () => new Disposable();
  const lenient = (target: object) =>
    new Proxy(target, { get: (t, p) => (p in t ? (t as any)[p] : noop) });
  return new Proxy(vscodeMock, {
    get: (t, p) => {
      if (p === 'version') return '1.95.0';
      if (typeof p === 'string' && NAMESPACES.includes(p)) return lenient((t as any)[p] ?? {});
      if (p in t) return (t as any)[p];
      return typeof p === 'string' && /^[A-Z]/.test(p) ? class {} : undefined;
    },
  });
}

describe('the bundled extension', () => {
  let extension: { activate(context: unknown): Promise<void>; deactivate(): Promise<void> };

  before(() => {
    const loader = Module as unknown as { _load(request: string, ...rest: unknown[]): unknown };
    const load = loader._load;
    const vscode = lenientVscode();
    loader._load = function (this: unknown, request: string, ...rest: unknown[]) {
      return request === 'vscode' ? vscode : load.call(this, request, ...rest);
    };
    extension = require(path.resolve(__dirname, '..', '..', 'extension.js'));
  });

  it('activates, registers its commands and explains a missing server', async () => {
    mock.reset();
    mock.set('codestral.server.path', '/nowhere/codestral-ls');
    const context = { subscriptions: [] as { dispose(): unknown }[], secrets: new MemorySecrets() };
    await extension.activate(context);
    const declared = manifest.contributes.commands.map((command) => command.command).sort();
    assert.deepEqual([...mock.commands.keys()].sort(), declared);
    assert.equal(mock.shown.length, 1);
    assert.equal(mock.shown[0].kind, 'error');
    assert.match(mock.shown[0].text, /codestral\.server\.path is "\/nowhere\/codestral-ls"/);
    assert.deepEqual(mock.shown[0].items, ['Open Settings', 'Show Logs']);
    assert.ok(mock.contentProviders.has('codestral-explain'), 'explanations have their provider');
    for (const disposable of context.subscriptions) disposable.dispose();
    await extension.deactivate();
  });

  it('in a remote window, says the setting goes in the Remote settings and opens them', async () => {
    mock.reset();
    mock.set('codestral.server.path', '/nowhere/codestral-ls');
    vscodeMock.env.remoteName = 'ssh-remote';
    mock.messageAnswers.push('Open Remote Settings');
    try {
      const context = { subscriptions: [] as { dispose(): unknown }[], secrets: new MemorySecrets() };
      await extension.activate(context);
      assert.match(mock.shown[0].text, /Remote settings/);
      assert.deepEqual(mock.shown[0].items, ['Open Remote Settings', 'Show Logs']);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(mock.executed.some((call) => call.id === 'workbench.action.openRemoteSettings'));
      for (const disposable of context.subscriptions) disposable.dispose();
      await extension.deactivate();
    } finally {
      vscodeMock.env.remoteName = undefined;
    }
  });

  it('gives the install command when codestral-ls is not on PATH', async () => {
    mock.reset();
    const savedPath = process.env.PATH;
    process.env.PATH = '/nonexistent-dir';
    try {
      const context = { subscriptions: [] as { dispose(): unknown }[], secrets: new MemorySecrets() };
      await extension.activate(context);
      assert.match(mock.shown[0].text, /not found on PATH\. Install it with "pipx install codestral-ls"/);
      assert.doesNotMatch(mock.shown[0].text, /Remote settings/); // a local window
      assert.deepEqual(mock.shown[0].items, ['Open Settings', 'Show Logs']);
      for (const disposable of context.subscriptions) disposable.dispose();
      await extension.deactivate();
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
