import './setup';

import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';

import * as vscode from 'vscode';

import manifest from '../package.json';
import { SECRET_NAME, parseStoredKey } from '../src/credentials';
import type { ListModelsResult } from '../src/protocol';
import type { CodestralServer } from '../src/server';
import type { ConnectionState } from '../src/status';
import { Codestral, ExtensionCommands, KEY_PROMPT_DISMISSED, SET_KEY_BUTTON, isMissingKey } from '../src/ui';
import {
  LogChannel,
  MemorySecrets,
  Position,
  Selection,
  StatusItem,
  Uri,
  mock,
  textDocument,
} from './mock/vscode';

const KEY = 'sk-secret-abcdef0123456789';

const CATALOG: ListModelsResult = {
  endpoint: 'http://127.0.0.1:9/fake',
  completionModel: 'codestral-latest',
  chatModel: 'codestral-latest',
  models: [
    { id: 'codestral-2508', aliases: ['codestral-latest'], fim: true, chat: true, inUse: ['completion', 'chat'] },
    { id: 'codestral-2405', aliases: [], fim: true, chat: true, deprecation: '2025-05-31T12:00:00Z', inUse: [] },
    { id: 'mistral-large-latest', aliases: [], fim: false, chat: true, inUse: [] },
  ],
};

class FakeServer implements CodestralServer {
  calls: { command: string; args: unknown }[] = [];
  restarts = 0;
  connection: ConnectionState = 'running';
  handlers: Record<string, (args: any) => unknown> = {
    'codestral.listModels': () => CATALOG,
    'codestral.selectModel': (args) => ({ model: args.model, kind: args.kind ?? 'completion', persisted: true }),
    'codestral.edit': () => ({ applied: true }),
    'codestral.stats': () => ({ summary: 'Codestral: codestral-2508: 31.0% of 42 accepted', telemetry: true }),
  };
  async execute<T>(command: string, args?: object): Promise<T> {
    this.calls.push({ command, args });
    const handler = this.handlers[command];
    if (!handler) throw new Error(`unknown command ${command}`);
    return handler(args) as T;
  }
  async restart(): Promise<void> {
    this.restarts += 1;
  }
}

interface Fixture {
  ui: Codestral;
  server: FakeServer;
  secrets: MemorySecrets;
  output: LogChannel;
  item: StatusItem;
}

/** globalState kept in memory. */
class Memory {
  readonly values = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }
  async update(key: string, value: unknown): Promise<void> {
    this.values.set(key, value);
  }
}

function setUp(memory?: Memory): Fixture {
  mock.reset();
  const server = new FakeServer();
  const secrets = new MemorySecrets();
  const output = new LogChannel('Codestral');
  const item = new StatusItem();
  const ui = new Codestral(
    server,
    secrets as unknown as vscode.SecretStorage,
    output as unknown as vscode.LogOutputChannel,
    item as unknown as vscode.StatusBarItem,
    memory,
  );
  return { ui, server, secrets, output, item };
}

/** Answer the next QuickPick with the item whose label includes `label`. */
function pick(label: string): void {
  mock.quickPickAnswers.push((items) => {
    const found = items.find((item) => String(item.label).includes(label));
    assert.ok(found, `no QuickPick item with "${label}" in ${items.map((i) => i.label).join(', ')}`);
    return found;
  });
}

function type(text: string | undefined): void {
  mock.inputAnswers.push((options) => {
    if (text !== undefined && options.validateInput) {
      assert.equal(options.validateInput(text), undefined, `input "${text}" was refused`);
    }
    return text;
  });
}

describe('commands', () => {
  it('registers every command the manifest declares, and no other', () => {
    const { ui } = setUp();
    ui.registerCommands();
    const declared = manifest.contributes.commands.map((command) => command.command).sort();
    assert.deepEqual([...mock.commands.keys()].sort(), declared);
    assert.deepEqual(Object.values(ExtensionCommands).sort(), declared);
  });

  it("does not clash with the server's own command ids, which the client registers", () => {
    const serverIds = ['codestral.listModels', 'codestral.selectModel', 'codestral.edit', 'codestral.status'];
    for (const id of Object.values(ExtensionCommands)) {
      assert.ok(!serverIds.includes(id), id);
    }
  });

  it('shows the logs', async () => {
    const { ui, output } = setUp();
    ui.registerCommands();
    await vscode.commands.executeCommand(ExtensionCommands.showLogs);
    assert.equal(output.shown, 1);
  });
});

describe('Set API Key', () => {
  let fixture: Fixture;
  beforeEach(() => {
    fixture = setUp();
  });

  it('stores the key and its kind in secret storage, never in settings, and restarts', async () => {
    pick('Codestral key');
    type(KEY);
    assert.equal(await fixture.ui.setApiKey(), true);
    assert.deepEqual(parseStoredKey(fixture.secrets.values.get(SECRET_NAME)), { kind: 'codestral', key: KEY });
    assert.equal(fixture.server.restarts, 1);
    assert.deepEqual(mock.updates, []);
    assert.equal(mock.inputBoxes[0].password, true);
    assert.ok(!fixture.output.lines.join('\n').includes(KEY), 'the key was logged');
    assert.ok(!mock.shown.some((message) => message.text.includes(KEY)), 'the key was shown');
  });

  it('offers the Mistral kind first when the endpoint is api.mistral.ai', async () => {
    mock.set('codestral.endpoint', 'https://api.mistral.ai');
    pick('Mistral API key');
    type(` ${KEY} `);
    await fixture.ui.setApiKey();
    assert.equal(mock.quickPicks[0].items[0].label, 'Mistral API key');
    assert.deepEqual(parseStoredKey(fixture.secrets.values.get(SECRET_NAME)), { kind: 'mistral', key: KEY });
  });

  it('changes nothing when cancelled', async () => {
    mock.quickPickAnswers.push(() => undefined);
    assert.equal(await fixture.ui.setApiKey(), false);
    pick('Codestral key');
    type(undefined);
    assert.equal(await fixture.ui.setApiKey(), false);
    assert.equal(fixture.secrets.values.size, 0);
    assert.equal(fixture.server.restarts, 0);
  });

  it('refuses input that cannot be a key', async () => {
    pick('Codestral key');
    mock.inputAnswers.push((options) => {
      assert.ok(options.validateInput('two words here'));
      return 'two words here';
    });
    assert.equal(await fixture.ui.setApiKey(), false);
    assert.equal(fixture.secrets.values.size, 0);
  });

  it('removes the key', async () => {
    await fixture.secrets.store(SECRET_NAME, JSON.stringify({ kind: 'codestral', key: KEY }));
    await fixture.ui.clearApiKey();
    assert.equal(await fixture.ui.storedKey(), undefined);
    assert.equal(fixture.server.restarts, 1);
  });
});

describe('model picker', () => {
  let fixture: Fixture;
  beforeEach(() => {
    fixture = setUp();
  });

  it('lists FIM models from codestral.listModels and selects the chosen one', async () => {
    pick('codestral-2405');
    const result = await fixture.ui.pickModel('completion');
    assert.deepEqual(result, { model: 'codestral-2405', kind: 'completion', persisted: true });
    assert.deepEqual(fixture.server.calls, [
      { command: 'codestral.listModels', args: { refresh: false } },
      { command: 'codestral.selectModel', args: { model: 'codestral-2405', kind: 'completion' } },
    ]);
    const labels = mock.quickPicks[0].items.map((item) => item.label);
    assert.equal(labels[0], '$(check) codestral-2508');
    assert.ok(!labels.includes('mistral-large-latest'));
    assert.match(mock.quickPicks[0].options.placeHolder, /in use: codestral-latest/);
  });

  it('picks chat models for the chat kind', async () => {
    pick('mistral-large-latest');
    const result = await fixture.ui.pickModel('chat');
    assert.equal(result?.kind, 'chat');
    assert.deepEqual(fixture.server.calls[1], {
      command: 'codestral.selectModel',
      args: { model: 'mistral-large-latest', kind: 'chat' },
    });
  });

  it('refreshes the catalog on request', async () => {
    pick('Refresh');
    pick('codestral-2508');
    await fixture.ui.pickModel('completion');
    assert.deepEqual(
      fixture.server.calls.map((call) => call.args),
      [{ refresh: false }, { refresh: true }, { model: 'codestral-2508', kind: 'completion' }],
    );
  });

  it('selects nothing when dismissed', async () => {
    mock.quickPickAnswers.push(() => undefined);
    assert.equal(await fixture.ui.pickModel('completion'), undefined);
    assert.deepEqual(fixture.server.calls.map((call) => call.command), ['codestral.listModels']);
  });

  it("shows the server's sentence when the catalog cannot be fetched", async () => {
    fixture.server.handlers['codestral.listModels'] = () => {
      throw new Error('The endpoint rejected the key (401).');
    };
    assert.equal(await fixture.ui.pickModel('completion'), undefined);
    assert.equal(mock.quickPicks.length, 0);
    assert.deepEqual(mock.shown.map((m) => [m.kind, m.text]), [
      ['error', 'Codestral: could not list the models: The endpoint rejected the key (401).'],
    ]);
  });

  it('says so when the endpoint has no FIM model', async () => {
    fixture.server.handlers['codestral.listModels'] = () => ({ endpoint: 'https://x', models: [] });
    await fixture.ui.pickModel('completion');
    assert.match(mock.shown[0].text, /https:\/\/x offers no fill-in-the-middle model/);
  });

  it('opens from the status bar', () => {
    assert.equal(fixture.item.command, ExtensionCommands.pickModel);
    assert.equal(fixture.item.visible, true);
  });
});

describe('edit with instruction', () => {
  let fixture: Fixture;
  beforeEach(() => {
    fixture = setUp();
    mock.activeTextEditor = {
      document: textDocument(Uri.file('/p/a.py'), 'def f(x):\n    return x\n'),
      selection: new Selection(new Position(0, 0), new Position(1, 12)),
    };
  });

  it('sends the selection, the uri and the instruction to codestral.edit', async () => {
    type('  add type hints ');
    assert.deepEqual(await fixture.ui.editSelection(), { applied: true });
    assert.deepEqual(fixture.server.calls, [
      {
        command: 'codestral.edit',
        args: {
          uri: 'file:///p/a.py',
          range: { start: { line: 0, character: 0 }, end: { line: 1, character: 12 } },
          instruction: 'add type hints',
        },
      },
    ]);
    assert.equal(mock.progress.length, 1);
  });

  it('edits the current line when nothing is selected', async () => {
    mock.activeTextEditor.selection = new Selection(new Position(1, 3), new Position(1, 3));
    type('use abs');
    await fixture.ui.editSelection();
    assert.deepEqual((fixture.server.calls[0].args as any).range, {
      start: { line: 1, character: 0 },
      end: { line: 1, character: 12 },
    });
  });

  it("shows the server's reason when the edit was not applied", async () => {
    fixture.server.handlers['codestral.edit'] = () => ({ applied: false, message: 'The model answered nothing.' });
    type('rename x');
    await fixture.ui.editSelection();
    assert.deepEqual(mock.shown.map((m) => m.text), ['Codestral: The model answered nothing.']);
  });

  it('sends nothing when cancelled or without an editor', async () => {
    type(undefined);
    await fixture.ui.editSelection();
    mock.activeTextEditor = undefined;
    await fixture.ui.editSelection();
    assert.deepEqual(fixture.server.calls, []);
    assert.match(mock.shown[0].text, /open a file/);
  });
});

describe('enable/disable', () => {
  it('toggles codestral.enable in the user settings', async () => {
    const { ui } = setUp();
    assert.equal(await ui.toggleCompletions(), false);
    assert.deepEqual(mock.updates, [{ key: 'codestral.enable', value: false, target: vscode.ConfigurationTarget.Global }]);
    assert.equal(await ui.toggleCompletions(), true);
    assert.equal(vscode.workspace.getConfiguration('codestral').get('enable'), true);
    assert.deepEqual(mock.shown.map((m) => m.text), ['Codestral: completions disabled.', 'Codestral: completions enabled.']);
  });

  it('toggles where the workspace set it, keeping per-language switches', async () => {
    const { ui } = setUp();
    mock.set('codestral.enable', { markdown: false }, 'workspaceValue');
    await ui.toggleCompletions();
    assert.deepEqual(mock.updates, [
      { key: 'codestral.enable', value: { markdown: false, '*': false }, target: vscode.ConfigurationTarget.Workspace },
    ]);
  });
});

describe('statistics', () => {
  it('shows the server\'s one-line summary', async () => {
    const { ui, server } = setUp();
    const text = await ui.showStatistics();
    assert.equal(text, 'Codestral: codestral-2508: 31.0% of 42 accepted');
    assert.deepEqual(server.calls, [{ command: 'codestral.stats', args: { sinceDays: 7 } }]);
    assert.deepEqual(mock.shown.map((m) => m.text), [text]);
  });

  it('says when recording is off, and when the server fails', async () => {
    const { ui, server } = setUp();
    server.handlers['codestral.stats'] = () => ({ summary: 'Codestral: no statistics recorded yet.', telemetry: false });
    assert.match((await ui.showStatistics()) ?? '', /telemetry is false/);
    server.handlers['codestral.stats'] = () => {
      throw new Error('server stopped');
    };
    assert.equal(await ui.showStatistics(), undefined);
    assert.match(mock.shown.at(-1)?.text ?? '', /statistics unavailable: server stopped/);
  });
});

describe('status bar', () => {
  it('follows codestral/status and the connection', () => {
    const { ui, item } = setUp();
    assert.equal(item.text, '$(sync~spin) Codestral');
    ui.setConnection('running');
    ui.onStatus({ state: 'working', model: 'codestral-2508' });
    assert.equal(item.text, '$(sync~spin) codestral-2508');
    ui.onStatus({ state: 'ready', model: 'codestral-2508', message: 'Codestral ready' });
    assert.equal(item.text, '$(sparkle) codestral-2508');
    assert.equal(item.backgroundColor, undefined);
    ui.onStatus({ state: 'unauthorized', model: 'codestral-2508', message: 'The key was rejected.' });
    assert.equal((item.backgroundColor as unknown as vscode.ThemeColor & { id: string }).id, 'statusBarItem.errorBackground');
    assert.match(String(item.tooltip), /The key was rejected\./);
    ui.setConnection('failed', 'codestral-ls was not found on PATH.');
    assert.equal(item.text, '$(error) Codestral');
    assert.equal(ui.status, undefined);
  });

  it('ignores malformed payloads', () => {
    const { ui, item } = setUp();
    ui.setConnection('running');
    ui.onStatus({ state: 'ready', model: 'a' });
    ui.onStatus(null as never);
    ui.onStatus({ model: 'b' } as never);
    assert.equal(item.text, '$(sparkle) a');
  });

  it('restarts through the server and shows it starting', async () => {
    const { ui, server, item } = setUp();
    ui.setConnection('running');
    ui.onStatus({ state: 'ready', model: 'a' });
    await ui.restart();
    assert.equal(server.restarts, 1);
    assert.equal(item.text, '$(sync~spin) Codestral');
  });
});

describe('API key notification', () => {
  const missing = { state: 'unauthorized', model: 'codestral-latest', message: 'No API key' };

  it('tells a missing key from a rejected one', () => {
    assert.equal(isMissingKey(missing), true);
    assert.equal(isMissingKey({ state: 'unauthorized', message: 'The key was rejected.' }), false);
    assert.equal(isMissingKey({ state: 'ready', message: 'No API key' }), false);
    assert.equal(isMissingKey(undefined), false);
  });

  it('offers "Set API Key" once, however often the status says so', async () => {
    const memory = new Memory();
    const { ui } = setUp(memory);
    mock.messageAnswers.push(undefined); // the user closes it
    ui.onStatus(missing);
    ui.onStatus({ state: 'ready', model: 'm' });
    ui.onStatus(missing);
    await ui.promptForKey();
    assert.equal(mock.shown.length, 1);
    assert.deepEqual(mock.shown[0].items, [SET_KEY_BUTTON]);
    assert.equal(memory.get(KEY_PROMPT_DISMISSED), true);
  });

  it('never shows it again once dismissed, in later sessions too', async () => {
    const memory = new Memory();
    await memory.update(KEY_PROMPT_DISMISSED, true);
    const { ui } = setUp(memory);
    ui.onStatus(missing);
    await ui.promptForKey();
    assert.equal(mock.shown.length, 0);
  });

  it('runs Set API Key from the button, and does not count that as dismissed', async () => {
    const memory = new Memory();
    const fixture = setUp(memory);
    mock.messageAnswers.push(SET_KEY_BUTTON);
    pick('Codestral key');
    type(KEY);
    fixture.ui.onStatus(missing);
    await fixture.ui.promptForKey();
    assert.ok(parseStoredKey(await fixture.secrets.get(SECRET_NAME)));
    assert.equal(memory.get(KEY_PROMPT_DISMISSED), undefined);
  });

  it('stays quiet for a rejected key (the status item says so)', async () => {
    const { ui } = setUp(new Memory());
    ui.onStatus({ state: 'unauthorized', model: 'm', message: 'The key was rejected.' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(mock.shown.filter((m) => m.items.includes(SET_KEY_BUTTON)).length, 0);
  });
});
