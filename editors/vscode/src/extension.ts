/** Entry point: wires the language client, the commands and the status bar together. */

import * as vscode from 'vscode';

import manifest from '../package.json';
import { SECRET_NAME } from './credentials';
import { EXPLAIN_SCHEME, ExplanationProvider } from './explain';
import { ClientServer } from './client';
import { serverSettingKeys } from './settings';
import { Codestral } from './ui';

let server: ClientServer | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Codestral', { log: true });
  const statusItem = vscode.window.createStatusBarItem(
    'codestral.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  const keys = serverSettingKeys(Object.keys(manifest.contributes.configuration.properties));
  let ui: Codestral | undefined;
  server = new ClientServer(
    output,
    {
      storedKey: async () => ui?.storedKey(),
      onStatus: (payload) => ui?.onStatus(payload),
      onConnection: (state, failure) => ui?.setConnection(state, failure),
    },
    keys,
  );
  ui = new Codestral(server, context.secrets, output, statusItem, context.globalState);
  const running = server;
  context.subscriptions.push(
    output,
    ui,
    running,
    ...ui.registerCommands(),
    vscode.workspace.registerTextDocumentContentProvider(EXPLAIN_SCHEME, new ExplanationProvider(running)),
    context.secrets.onDidChange((event) => {
      if (event.key === SECRET_NAME) {
        output.info('the stored API key changed; restarting the server.');
        void running.restart();
      }
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('codestral.server')) {
        output.info('codestral.server settings changed; restarting the server.');
        void running.restart();
      }
    }),
  );
  await running.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
