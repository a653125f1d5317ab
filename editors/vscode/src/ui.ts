/**
 * The commands and the status-bar item.  The only module besides extension.ts and client.ts
 * that talks to VS Code; tests run it against a mocked `vscode`.
 */

import * as vscode from 'vscode';

import {
  KEY_KINDS,
  type KeyKind,
  SECRET_NAME,
  type StoredKey,
  defaultKeyKind,
  parseStoredKey,
  serializeKey,
  validateKey,
} from './credentials';
import { editRange, validateInstruction } from './edit';
import { type ModelPickItem, modelPickItems } from './models';
import {
  Commands,
  type EditResult,
  type ListModelsResult,
  type ModelKind,
  type SelectModelResult,
  type StatsArgs,
  type StatsResult,
  type StatusPayload,
} from './protocol';
import { type CodestralServer, errorMessage } from './server';
import { isEnabled, toggledEnable } from './settings';
import { type ConnectionState, formatStatus } from './status';

/** The extension's own command ids (the server's `codestral.*` ids are registered by the client). */
export const ExtensionCommands = {
  setApiKey: 'codestral.setApiKey',
  clearApiKey: 'codestral.clearApiKey',
  pickModel: 'codestral.pickModel',
  pickChatModel: 'codestral.pickChatModel',
  editSelection: 'codestral.editSelection',
  restart: 'codestral.restart',
  showLogs: 'codestral.showLogs',
  toggleCompletions: 'codestral.toggleCompletions',
  showStatistics: 'codestral.showStatistics',
} as const;

const REFRESH = '$(refresh) Refresh the list from the endpoint';

/** globalState key: the user dismissed the "no API key" notification; never show it again. */
export const KEY_PROMPT_DISMISSED = 'codestral.keyPromptDismissed';
export const SET_KEY_BUTTON = 'Set API Key';

/** Whether a status says that no key is set (a rejected key is another matter). */
export function isMissingKey(payload: StatusPayload | undefined): boolean {
  return payload?.state === 'unauthorized' && /^No API key\b/i.test(payload.message ?? '');
}

/** Where the extension keeps small facts across sessions (`context.globalState`). */
export type Memory = Pick<vscode.Memento, 'get' | 'update'>;

type PickEntry = (ModelPickItem & vscode.QuickPickItem) | (vscode.QuickPickItem & { refresh: true });

export class Codestral implements vscode.Disposable {
  private lastStatus: StatusPayload | undefined;
  private connection: ConnectionState = 'starting';
  private failure: string | undefined;
  private keyPrompt: Promise<void> | undefined;

  constructor(
    private readonly server: CodestralServer,
    private readonly secrets: vscode.SecretStorage,
    private readonly output: vscode.LogOutputChannel,
    private readonly statusItem: vscode.StatusBarItem,
    private readonly memory?: Memory,
  ) {
    statusItem.command = ExtensionCommands.pickModel;
    statusItem.name = 'Codestral';
    this.render();
    statusItem.show();
  }

  dispose(): void {
    this.statusItem.dispose();
  }

  /** Register every command; the disposables go to the extension context. */
  registerCommands(): vscode.Disposable[] {
    const commands: Record<string, () => unknown> = {
      [ExtensionCommands.setApiKey]: () => this.setApiKey(),
      [ExtensionCommands.clearApiKey]: () => this.clearApiKey(),
      [ExtensionCommands.pickModel]: () => this.pickModel('completion'),
      [ExtensionCommands.pickChatModel]: () => this.pickModel('chat'),
      [ExtensionCommands.editSelection]: () => this.editSelection(),
      [ExtensionCommands.restart]: () => this.restart(),
      [ExtensionCommands.showLogs]: () => this.output.show(true),
      [ExtensionCommands.toggleCompletions]: () => this.toggleCompletions(),
      [ExtensionCommands.showStatistics]: () => this.showStatistics(),
    };
    return Object.entries(commands).map(([id, run]) => vscode.commands.registerCommand(id, run));
  }

  // --- status ---------------------------------------------------------------------------

  /** A `codestral/status` notification (or the `codestral.status` answer) arrived. */
  onStatus(payload: StatusPayload): void {
    if (payload && typeof payload.state === 'string') {
      this.lastStatus = payload;
      this.render();
      if (isMissingKey(payload)) {
        void this.promptForKey();
      }
    }
  }

  /**
   * One notification with a "Set API Key" button when the server has no key: once per window,
   * and never again once the user dismissed it (closed it without setting a key).
   */
  promptForKey(): Promise<void> {
    if (this.keyPrompt || !this.memory || this.memory.get<boolean>(KEY_PROMPT_DISMISSED)) {
      return this.keyPrompt ?? Promise.resolve();
    }
    this.keyPrompt = (async () => {
      const choice = await vscode.window.showInformationMessage(
        'Codestral needs an API key for completions (a key from codestral.mistral.ai, or a ' +
          'Mistral API key). It is kept in VS Code\'s secret storage.',
        SET_KEY_BUTTON,
      );
      if (choice === SET_KEY_BUTTON) {
        await this.setApiKey();
      } else {
        await this.memory?.update(KEY_PROMPT_DISMISSED, true);
        this.output.info('the API key notification was dismissed; it will not be shown again ' +
          '(use "Codestral: Set API Key" any time).');
      }
    })();
    return this.keyPrompt;
  }

  /** The client started, stopped or failed to start. */
  setConnection(state: ConnectionState, failure?: string): void {
    this.connection = state;
    this.failure = failure;
    if (state !== 'running') {
      this.lastStatus = undefined;
    }
    this.render();
  }

  get status(): StatusPayload | undefined {
    return this.lastStatus;
  }

  private render(): void {
    const view = formatStatus(this.lastStatus, this.connection, this.failure);
    this.statusItem.text = view.text;
    this.statusItem.tooltip = view.tooltip;
    this.statusItem.backgroundColor = view.background
      ? new vscode.ThemeColor(view.background)
      : undefined;
  }

  // --- key ------------------------------------------------------------------------------

  async storedKey(): Promise<StoredKey | undefined> {
    return parseStoredKey(await this.secrets.get(SECRET_NAME));
  }

  /** Ask for the kind of key and the key, store it in SecretStorage, restart the server. */
  async setApiKey(): Promise<boolean> {
    const endpoint = vscode.workspace.getConfiguration('codestral').get<string | null>('endpoint');
    const preferred = defaultKeyKind(endpoint);
    const kinds = KEY_KINDS.map((entry) => ({
      label: entry.label,
      detail: entry.detail,
      keyKind: entry.kind,
      picked: entry.kind === preferred,
    }));
    kinds.sort((a, b) => Number(b.picked) - Number(a.picked));
    const choice = await vscode.window.showQuickPick(kinds, {
      title: 'Codestral: Set API Key (1/2)',
      placeHolder: 'Which kind of key? Keys of the two endpoints are not interchangeable.',
    });
    if (!choice) {
      return false;
    }
    const kind: KeyKind = choice.keyKind;
    const value = await vscode.window.showInputBox({
      title: 'Codestral: Set API Key (2/2)',
      prompt:
        kind === 'codestral'
          ? 'Paste your key from codestral.mistral.ai. It is kept in VS Code\'s secret storage.'
          : 'Paste your key from console.mistral.ai. It is kept in VS Code\'s secret storage.',
      password: true,
      ignoreFocusOut: true,
      validateInput: validateKey,
    });
    if (value === undefined || validateKey(value) !== undefined) {
      return false;
    }
    await this.secrets.store(SECRET_NAME, serializeKey({ kind, key: value.trim() }));
    this.output.info(`API key stored (${kind === 'codestral' ? 'CODESTRAL_API_KEY' : 'MISTRAL_API_KEY'}); restarting the server.`);
    await this.restart();
    void vscode.window.showInformationMessage('Codestral: key saved; the server was restarted.');
    return true;
  }

  async clearApiKey(): Promise<void> {
    await this.secrets.delete(SECRET_NAME);
    this.output.info('API key removed from secret storage; restarting the server.');
    await this.restart();
    void vscode.window.showInformationMessage('Codestral: key removed from secret storage.');
  }

  // --- models ---------------------------------------------------------------------------

  /** QuickPick fed by `codestral.listModels`, then `codestral.selectModel`. */
  async pickModel(kind: ModelKind, refresh = false): Promise<SelectModelResult | undefined> {
    let result: ListModelsResult;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Codestral: listing models…' },
        () => this.server.execute<ListModelsResult>(Commands.listModels, { refresh }),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`Codestral: could not list the models: ${errorMessage(error)}`);
      return undefined;
    }
    const models = modelPickItems(result, kind);
    if (models.length === 0) {
      const what = kind === 'completion' ? 'fill-in-the-middle' : 'chat';
      void vscode.window.showWarningMessage(
        `Codestral: ${result.endpoint ?? 'the endpoint'} offers no ${what} model.`,
      );
      return undefined;
    }
    const entries: PickEntry[] = [
      ...models,
      { label: '', kind: vscode.QuickPickItemKind.Separator, refresh: true },
      { label: REFRESH, refresh: true },
    ];
    const current = kind === 'completion' ? result.completionModel : result.chatModel;
    const picked = await vscode.window.showQuickPick(entries, {
      title: kind === 'completion' ? 'Codestral: completion model' : 'Codestral: chat model',
      placeHolder: `${result.endpoint ?? ''} · in use: ${current ?? 'unknown'}`,
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!picked) {
      return undefined;
    }
    if ('refresh' in picked) {
      return this.pickModel(kind, true);
    }
    try {
      const selected = await this.server.execute<SelectModelResult | null>(Commands.selectModel, {
        model: picked.model,
        kind,
      });
      if (selected) {
        this.output.info(`${kind} model: ${selected.model} (persisted: ${selected.persisted})`);
      }
      return selected ?? undefined;
    } catch (error) {
      void vscode.window.showErrorMessage(`Codestral: could not select ${picked.model}: ${errorMessage(error)}`);
      return undefined;
    }
  }

  // --- edit -----------------------------------------------------------------------------

  /** Input box → `codestral.edit` on the selection (or the current line). */
  async editSelection(): Promise<EditResult | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage('Codestral: open a file and select the code to edit.');
      return undefined;
    }
    const instruction = await vscode.window.showInputBox({
      title: 'Codestral: Edit with Instruction',
      prompt: editor.selection.isEmpty
        ? 'What should change in the current line?'
        : 'What should change in the selection?',
      placeHolder: 'e.g. add type hints',
      validateInput: validateInstruction,
    });
    if (instruction === undefined || validateInstruction(instruction) !== undefined) {
      return undefined;
    }
    const document = editor.document;
    const selection = editor.selection;
    const range = editRange(
      {
        start: { line: selection.start.line, character: selection.start.character },
        end: { line: selection.end.line, character: selection.end.character },
      },
      (line) => document.lineAt(line).text.length,
    );
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Codestral: editing…' },
        () =>
          this.server.execute<EditResult>(Commands.edit, {
            uri: document.uri.toString(),
            range,
            instruction: instruction.trim(),
          }),
      );
      if (result && !result.applied) {
        void vscode.window.showWarningMessage(`Codestral: ${result.message ?? 'the edit was not applied.'}`);
      }
      return result;
    } catch (error) {
      void vscode.window.showErrorMessage(`Codestral: the edit failed: ${errorMessage(error)}`);
      return undefined;
    }
  }

  // --- statistics -----------------------------------------------------------------------

  /** "Codestral: Show statistics": the server's one-line summary of the last 7 days. */
  async showStatistics(): Promise<string | undefined> {
    try {
      const result = await this.server.execute<StatsResult>(Commands.stats, { sinceDays: 7 } satisfies StatsArgs);
      const off = result.telemetry ? '' : ' (recording is off: codestral.telemetry is false)';
      const text = `${result.summary}${off}`;
      void vscode.window.showInformationMessage(text);
      return text;
    } catch (error) {
      void vscode.window.showErrorMessage(`Codestral: statistics unavailable: ${errorMessage(error)}`);
      return undefined;
    }
  }

  // --- enable, restart ------------------------------------------------------------------

  /** Flip `codestral.enable` where it is set (workspace if set there, else user settings). */
  async toggleCompletions(): Promise<boolean> {
    const config = vscode.workspace.getConfiguration('codestral');
    const inspected = config.inspect('enable');
    const target =
      inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
    const next = toggledEnable(config.get('enable'));
    await config.update('enable', next, target);
    const on = isEnabled(next);
    void vscode.window.showInformationMessage(`Codestral: completions ${on ? 'enabled' : 'disabled'}.`);
    return on;
  }

  async restart(): Promise<void> {
    this.setConnection('starting');
    try {
      await this.server.restart();
    } catch (error) {
      // client.ts reports start failures through setConnection('failed', ...).
      this.output.error(`restart failed: ${errorMessage(error)}`);
    }
  }
}
