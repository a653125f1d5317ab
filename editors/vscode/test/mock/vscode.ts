/**
 * A hand-written stand-in for the `vscode` module, for unit tests outside VS Code.
 * test/setup.ts makes `require('vscode')` resolve here.  Only what the extension uses exists;
 * `mock` records what the code did and holds the answers the "user" gives.
 */

import manifest from '../../package.json';

type Listener<T> = (value: T) => unknown;

export class Disposable {
  constructor(private readonly onDispose: () => void = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): void {
    this.onDispose();
  }
}

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export enum QuickPickItemKind {
  Separator = -1,
  Default = 0,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Selection {
  readonly start: Position;
  readonly end: Position;
  constructor(anchor: Position, active: Position) {
    const before =
      anchor.line < active.line || (anchor.line === active.line && anchor.character <= active.character);
    this.start = before ? anchor : active;
    this.end = before ? active : anchor;
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
    private readonly raw?: string,
  ) {}
  static file(path: string): Uri {
    return new Uri('file', path);
  }
  /** A URI kept as written (enough for virtual documents). */
  static parse(value: string): Uri {
    return new Uri(value.slice(0, value.indexOf(':')), '', value);
  }
  toString(): string {
    return this.raw ?? `${this.scheme}://${this.fsPath}`;
  }
}

/** A text document made from a string. */
export function textDocument(uri: Uri, text: string) {
  const lines = text.split('\n');
  return {
    uri,
    lineCount: lines.length,
    lineAt: (line: number) => ({ text: lines[line] ?? '' }),
    getText: () => text,
  };
}

export class StatusItem {
  text = '';
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  backgroundColor: ThemeColor | undefined;
  visible = false;
  disposed = false;
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.disposed = true;
  }
}

export class LogChannel {
  readonly lines: string[] = [];
  shown = 0;
  constructor(readonly name: string) {}
  private log(level: string, message: string): void {
    this.lines.push(`[${level}] ${message}`);
  }
  trace(message: string): void {
    this.log('trace', message);
  }
  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warn(message: string): void {
    this.log('warn', message);
  }
  error(message: string | Error): void {
    this.log('error', String(message));
  }
  append(text: string): void {
    this.lines.push(text);
  }
  appendLine(text: string): void {
    this.lines.push(text);
  }
  show(): void {
    this.shown += 1;
  }
  dispose(): void {}
}

/** SecretStorage kept in memory. */
export class MemorySecrets {
  readonly values = new Map<string, string>();
  private readonly changed = new EventEmitter<{ key: string }>();
  readonly onDidChange = this.changed.event;
  async get(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    this.changed.fire({ key });
  }
  async delete(key: string): Promise<void> {
    this.values.delete(key);
    this.changed.fire({ key });
  }
}

interface Shown {
  kind: 'info' | 'warning' | 'error';
  text: string;
  items: string[];
}

type QuickPickAnswer = (items: any[], options: any) => any;
type InputAnswer = (options: any) => string | undefined;

interface Scoped {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

const properties = manifest.contributes.configuration.properties as Record<string, { default?: unknown }>;

/** What the code did and what the "user" answers next. */
export const mock = {
  shown: [] as Shown[],
  quickPicks: [] as { items: any[]; options: any }[],
  inputBoxes: [] as any[],
  progress: [] as any[],
  quickPickAnswers: [] as QuickPickAnswer[],
  inputAnswers: [] as InputAnswer[],
  messageAnswers: [] as (string | undefined)[],
  commands: new Map<string, (...args: any[]) => unknown>(),
  executed: [] as { id: string; args: unknown[] }[],
  settings: new Map<string, Scoped>(),
  updates: [] as { key: string; value: unknown; target: ConfigurationTarget }[],
  configurationChanged: new EventEmitter<{ affectsConfiguration(section: string): boolean }>(),
  activeTextEditor: undefined as any,
  contentProviders: new Map<string, unknown>(),
  reset(): void {
    this.shown = [];
    this.quickPicks = [];
    this.inputBoxes = [];
    this.progress = [];
    this.quickPickAnswers = [];
    this.inputAnswers = [];
    this.messageAnswers = [];
    this.commands.clear();
    this.executed = [];
    this.settings.clear();
    this.updates = [];
    this.activeTextEditor = undefined;
  },
  /** Set a user (global) setting, e.g. `set('codestral.model', 'x')`. */
  set(key: string, value: unknown, scope: keyof Scoped = 'globalValue'): void {
    this.settings.set(key, { ...(this.settings.get(key) ?? {}), [scope]: value });
  },
};

function show(kind: Shown['kind']) {
  return async (text: string, ...items: unknown[]): Promise<string | undefined> => {
    const labels = items.filter((item): item is string => typeof item === 'string');
    mock.shown.push({ kind, text, items: labels });
    return mock.messageAnswers.shift();
  };
}

export const window = {
  get activeTextEditor() {
    return mock.activeTextEditor;
  },
  showInformationMessage: show('info'),
  showWarningMessage: show('warning'),
  showErrorMessage: show('error'),
  async showQuickPick(items: any[] | Promise<any[]>, options: any = {}): Promise<any> {
    const resolved = await items;
    mock.quickPicks.push({ items: resolved, options });
    const answer = mock.quickPickAnswers.shift();
    if (!answer) throw new Error(`unexpected QuickPick: ${options.title ?? options.placeHolder}`);
    return answer(resolved, options);
  },
  async showInputBox(options: any = {}): Promise<string | undefined> {
    mock.inputBoxes.push(options);
    const answer = mock.inputAnswers.shift();
    if (!answer) throw new Error(`unexpected input box: ${options.title ?? options.prompt}`);
    return answer(options);
  },
  async withProgress<T>(options: any, task: (progress: any, token: any) => Promise<T>): Promise<T> {
    mock.progress.push(options);
    return task({ report: () => undefined }, { isCancellationRequested: false });
  },
  createStatusBarItem(): StatusItem {
    return new StatusItem();
  },
  createOutputChannel(name: string): LogChannel {
    return new LogChannel(name);
  },
};

function configuration(section: string) {
  const full = (key: string) => (section ? `${section}.${key}` : key);
  const inspect = (key: string) => {
    const name = full(key);
    return { key: name, defaultValue: properties[name]?.default, ...(mock.settings.get(name) ?? {}) };
  };
  return {
    get<T>(key: string, fallback?: T): T | undefined {
      const found = inspect(key);
      for (const value of [found.workspaceFolderValue, found.workspaceValue, found.globalValue, found.defaultValue]) {
        if (value !== undefined) return value as T;
      }
      return fallback;
    },
    has(key: string): boolean {
      return full(key) in properties || mock.settings.has(full(key));
    },
    inspect,
    async update(key: string, value: unknown, target: ConfigurationTarget = ConfigurationTarget.Global): Promise<void> {
      const scope: keyof Scoped =
        target === ConfigurationTarget.Global
          ? 'globalValue'
          : target === ConfigurationTarget.Workspace
            ? 'workspaceValue'
            : 'workspaceFolderValue';
      mock.updates.push({ key: full(key), value, target });
      mock.set(full(key), value, scope);
      mock.configurationChanged.fire({
        affectsConfiguration: (name: string) => full(key) === name || full(key).startsWith(`${name}.`),
      });
    },
  };
}

export const workspace = {
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  getConfiguration: configuration,
  onDidChangeConfiguration: mock.configurationChanged.event,
  registerTextDocumentContentProvider(scheme: string, provider: unknown): Disposable {
    mock.contentProviders.set(scheme, provider);
    return new Disposable(() => mock.contentProviders.delete(scheme));
  },
};

export const commands = {
  registerCommand(id: string, run: (...args: any[]) => unknown): Disposable {
    if (mock.commands.has(id)) throw new Error(`command '${id}' already exists`);
    mock.commands.set(id, run);
    return new Disposable(() => mock.commands.delete(id));
  },
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    mock.executed.push({ id, args });
    return mock.commands.get(id)?.(...args);
  },
};

export const env = {
  appName: 'Visual Studio Code',
  remoteName: undefined as string | undefined,
};
