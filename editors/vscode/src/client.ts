/**
 * The language client: starts codestral-ls with the key in its environment, sends only the
 * settings the user set, and implements {@link CodestralServer} for the UI.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  ResponseError,
  State,
} from 'vscode-languageclient/node';

import { StatusNotificationFeature } from './capabilities';
import { type StoredKey, buildServerEnv, describeKey } from './credentials';
import { DOCUMENT_SELECTOR, explainDocumentsFeature } from './explain';
import { type StatusPayload, StatusNotification } from './protocol';
import { type CodestralServer, errorMessage } from './server';
import {
  type ServerCommand,
  ServerNotFoundError,
  resolveServerCommand,
} from './serverCommand';
import { explicitSettings, serverArgs } from './settings';
import type { ConnectionState } from './status';

export interface ClientHooks {
  storedKey(): Promise<StoredKey | undefined>;
  onStatus(payload: StatusPayload): void;
  onConnection(state: ConnectionState, failure?: string): void;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function workspaceFolder(): string | undefined {
  return vscode.workspace.workspaceFolders?.find((folder) => folder.uri.scheme === 'file')?.uri
    .fsPath;
}

/** Where the server is, from the settings; throws ServerNotFoundError with advice. */
export function findServer(): ServerCommand {
  const config = vscode.workspace.getConfiguration('codestral.server');
  return resolveServerCommand(
    {
      serverPath: config.get<string | null>('path'),
      pythonPath: config.get<string | null>('pythonPath'),
      extraArgs: serverArgs(config.get<string | null>('logLevel')),
    },
    {
      pathEnv: process.env.PATH,
      platform: process.platform,
      home: os.homedir(),
      workspaceFolder: workspaceFolder(),
      isExecutable,
      remoteName: vscode.env.remoteName,
    },
  );
}

/** With codestral.server.pythonPath: check that this Python has the package. */
function checkPythonModule(server: ServerCommand): Promise<void> {
  if (server.source !== 'codestral.server.pythonPath') {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    execFile(server.command, ['-c', 'import codestral_ls'], { timeout: 15000 }, (error) => {
      if (error) {
        reject(
          new ServerNotFoundError(
            `Codestral: the Python at codestral.server.pythonPath (${server.command}) cannot ` +
              `import codestral_ls. Install it there with "${server.command} -m pip install ` +
              `codestral-ls", then run "Codestral: Restart Server".`,
          ),
        );
      } else {
        resolve();
      }
    });
  });
}

export class ClientServer implements CodestralServer, vscode.Disposable {
  readonly client: LanguageClient;
  private state: ConnectionState = 'stopped';
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly hooks: ClientHooks,
    private readonly settingKeys: readonly string[],
  ) {
    const clientOptions: LanguageClientOptions = {
      documentSelector: DOCUMENT_SELECTOR,
      outputChannel: output,
      initializationOptions: () => ({ codestral: this.settings() }),
      synchronize: { configurationSection: 'codestral' },
      middleware: {
        workspace: {
          configuration: async (params, token, next) => {
            const answer = await next(params, token);
            if (answer instanceof ResponseError) {
              return answer;
            }
            return params.items.map((item, index) =>
              item.section === 'codestral' ? this.settings() : answer[index],
            );
          },
          didChangeConfiguration: async () => {
            await this.client.sendNotification(DidChangeConfigurationNotification.type, {
              settings: { codestral: this.settings() },
            });
          },
        },
      },
    };
    this.client = new LanguageClient(
      'codestral',
      'Codestral',
      () => this.spawnServer(),
      clientOptions,
    );
    this.client.registerFeature(explainDocumentsFeature);
    // Ask for codestral/status: the server sends it only to clients that opt in.
    this.client.registerFeature(new StatusNotificationFeature());
    this.client.onNotification(StatusNotification, (payload: StatusPayload) =>
      this.hooks.onStatus(payload),
    );
    this.client.onDidChangeState((event) => {
      if (event.newState === State.Running) {
        this.setState('running');
        void this.fetchStatus();
      } else if (event.newState === State.Starting) {
        this.setState('starting');
      } else if (this.state !== 'failed') {
        this.setState('stopped');
      }
    });
  }

  get connection(): ConnectionState {
    return this.state;
  }

  private setState(state: ConnectionState, failure?: string): void {
    this.state = state;
    this.hooks.onConnection(state, failure);
  }

  /** The `codestral` section for the server: only what the user set, never a key. */
  settings(): Record<string, unknown> {
    const config = vscode.workspace.getConfiguration('codestral');
    return explicitSettings(this.settingKeys, (key) => config.inspect(key));
  }

  private async spawnServer(): Promise<ChildProcess> {
    const server = findServer();
    const stored = await this.hooks.storedKey();
    const env = buildServerEnv(process.env, stored);
    this.output.info(
      `starting ${server.command} ${server.args.join(' ')} (from ${server.source}); ` +
        `key: ${describeKey(stored, process.env)}`,
    );
    const child = spawn(server.command, server.args, {
      cwd: workspaceFolder() ?? os.homedir(),
      env,
      stdio: 'pipe',
      windowsHide: true,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return child;
  }

  /** Start the server, or say clearly why it cannot start. */
  async start(): Promise<boolean> {
    let server: ServerCommand;
    try {
      server = findServer();
      await checkPythonModule(server);
    } catch (error) {
      const message = errorMessage(error);
      this.output.error(message);
      this.setState('failed', message);
      void this.offerHelp(message);
      return false;
    }
    try {
      this.setState('starting');
      await this.client.start();
      return true;
    } catch (error) {
      const message = `Codestral: the server (${server.command}) did not start: ${errorMessage(error)}`;
      this.setState('failed', message);
      return false;
    }
  }

  private async offerHelp(message: string): Promise<void> {
    const remote = vscode.env.remoteName !== undefined;
    const openSettings = remote ? 'Open Remote Settings' : 'Open Settings';
    const showLogs = 'Show Logs';
    const choice = await vscode.window.showErrorMessage(message, openSettings, showLogs);
    if (choice === openSettings && remote) {
      await vscode.commands.executeCommand('workbench.action.openRemoteSettings');
    } else if (choice === openSettings) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'codestral.server');
    } else if (choice === showLogs) {
      this.output.show(true);
    }
  }

  /** Restart; calls made while a restart is under way share it. */
  restart(): Promise<void> {
    if (!this.restarting) {
      this.restarting = (async () => {
        try {
          if (this.client.needsStop()) {
            await this.client.stop();
          }
          await this.start();
        } finally {
          this.restarting = undefined;
        }
      })();
    }
    return this.restarting;
  }

  async stop(): Promise<void> {
    if (this.client.needsStop()) {
      await this.client.stop();
    }
  }

  async execute<T>(command: string, args?: object): Promise<T> {
    if (!this.client.isRunning()) {
      throw new Error('the server is not running (see "Codestral: Show Logs").');
    }
    return (await this.client.sendRequest(ExecuteCommandRequest.type, {
      command,
      arguments: args === undefined ? [] : [args],
    })) as T;
  }

  private async fetchStatus(): Promise<void> {
    try {
      const payload = await this.execute<StatusPayload | null>('codestral.status');
      if (payload) {
        this.hooks.onStatus(payload);
      }
    } catch (error) {
      this.output.debug(`codestral.status: ${errorMessage(error)}`);
    }
  }

  dispose(): void {
    void this.client.dispose();
  }
}
