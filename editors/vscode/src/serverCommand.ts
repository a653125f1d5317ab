/**
 * Which command starts codestral-ls.  Pure: file-system checks are passed in.
 *
 * Order: the `codestral.server.path` setting, then `codestral.server.pythonPath`
 * (`python -m codestral_ls`), then `codestral-ls` on PATH.
 */

import * as path from 'node:path';

export const INSTALL_COMMAND = 'pipx install codestral-ls';

export interface ServerLocation {
  /** `codestral.server.path`: the codestral-ls executable. */
  serverPath?: string | null;
  /** `codestral.server.pythonPath`: a Python with codestral-ls installed. */
  pythonPath?: string | null;
  /** Extra arguments for the server, e.g. `--log-level DEBUG`. */
  extraArgs?: readonly string[];
}

export interface ResolveContext {
  /** The PATH to search. */
  pathEnv: string | undefined;
  /** `process.platform`. */
  platform: NodeJS.Platform;
  /** The user's home directory, for `~`. */
  home: string;
  /** The first workspace folder's path, for `${workspaceFolder}`. */
  workspaceFolder?: string;
  /** Whether `file` exists and can be executed. */
  isExecutable: (file: string) => boolean;
  /** `vscode.env.remoteName` in a remote window (`ssh-remote`, `wsl`, code-server...). */
  remoteName?: string;
}

/**
 * Where the server settings must go in a remote window, and why.  They are machine-scoped (a
 * path on one machine means nothing on another), so in a remote window VS Code reads them
 * from the Remote settings only and ignores the User settings of the local machine.
 */
export function remoteSettingsAdvice(remoteName: string | undefined): string {
  if (!remoteName) {
    return '';
  }
  return (
    ` This is a remote window (${remoteName}): set codestral.server.path in the Remote ` +
    `settings ("Preferences: Open Remote Settings"), not in your User settings, which VS Code ` +
    `ignores for machine-specific settings in remote windows, because the server runs on the ` +
    `remote machine.`
  );
}

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where the command came from, for the log. */
  source: 'codestral.server.path' | 'codestral.server.pythonPath' | 'PATH';
}

/** The server could not be found; `message` says what to do. */
export class ServerNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServerNotFoundError';
  }
}

/** Expand `~` and `${workspaceFolder}` in a path setting. */
export function expandPath(value: string, context: ResolveContext): string {
  let result = value.trim();
  if (result === '~' || result.startsWith('~/') || result.startsWith('~\\')) {
    result = context.home + result.slice(1);
  }
  if (result.includes('${workspaceFolder}')) {
    if (context.workspaceFolder === undefined) {
      throw new ServerNotFoundError(
        `Codestral: "${value}" uses \${workspaceFolder}, but no folder is open.`,
      );
    }
    result = result.split('${workspaceFolder}').join(context.workspaceFolder);
  }
  return result;
}

/** Find `name` on PATH (with Windows' executable extensions), or undefined. */
export function which(name: string, context: ResolveContext): string | undefined {
  const windows = context.platform === 'win32';
  const paths = windows ? path.win32 : path.posix;
  const separator = windows ? ';' : ':';
  const extensions = windows ? ['.exe', '.cmd', '.bat', ''] : [''];
  for (const dir of (context.pathEnv ?? '').split(separator)) {
    if (!dir) continue;
    for (const extension of extensions) {
      const candidate = paths.join(dir, name + extension);
      if (context.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** A command given either as a path (with a separator) or as a name to look up on PATH. */
function locate(value: string, context: ResolveContext): string | undefined {
  const hasSeparator = value.includes('/') || (context.platform === 'win32' && value.includes('\\'));
  const paths = context.platform === 'win32' ? path.win32 : path.posix;
  if (hasSeparator || paths.isAbsolute(value)) {
    return context.isExecutable(value) ? value : undefined;
  }
  return which(value, context);
}

export function resolveServerCommand(
  location: ServerLocation,
  context: ResolveContext,
): ServerCommand {
  const extra = [...(location.extraArgs ?? [])];
  const serverPath = location.serverPath?.trim();
  if (serverPath) {
    const expanded = expandPath(serverPath, context);
    const found = locate(expanded, context);
    if (!found) {
      throw new ServerNotFoundError(
        `Codestral: the setting codestral.server.path is "${serverPath}", but no executable ` +
          `is there. Fix the path, or clear the setting to use codestral-ls from PATH.` +
          remoteSettingsAdvice(context.remoteName),
      );
    }
    return { command: found, args: extra, source: 'codestral.server.path' };
  }
  const pythonPath = location.pythonPath?.trim();
  if (pythonPath) {
    const expanded = expandPath(pythonPath, context);
    const found = locate(expanded, context);
    if (!found) {
      throw new ServerNotFoundError(
        `Codestral: the setting codestral.server.pythonPath is "${pythonPath}", but no ` +
          `Python executable is there. Fix the path, or clear the setting.`,
      );
    }
    return { command: found, args: ['-m', 'codestral_ls', ...extra], source: 'codestral.server.pythonPath' };
  }
  const onPath = which('codestral-ls', context);
  if (onPath) {
    return { command: onPath, args: extra, source: 'PATH' };
  }
  throw new ServerNotFoundError(
    `Codestral: the language server codestral-ls was not found on PATH. Install it with ` +
      `"${INSTALL_COMMAND}" (or "python3 -m pip install codestral-ls"), then run ` +
      `"Codestral: Restart Server"; or set codestral.server.path or ` +
      `codestral.server.pythonPath.` +
      remoteSettingsAdvice(context.remoteName),
  );
}
