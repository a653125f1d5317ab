/**
 * Which settings go to the server, and how.  Pure.
 *
 * VS Code answers `getConfiguration('codestral')` with every contributed default filled in.
 * The server treats a model given in the settings as pinned (a model picked with
 * `codestral.selectModel` would then never apply), so only the values the user actually set
 * are sent.  The defaults are the server's own (tests/test_vscode_manifest.py keeps them equal).
 */

/** Settings of the extension itself, never sent to the server. */
export const CLIENT_ONLY_PREFIXES = ['server', 'trace'];

/** Never sent, even if an old settings.json has it: the key lives in SecretStorage. */
export const FORBIDDEN_KEYS = ['apiKey'];

/** What `WorkspaceConfiguration.inspect(key)` returns (the parts used here). */
export interface Inspection<T = unknown> {
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** Server keys (e.g. `model`) from the manifest's `codestral.*` property names. */
export function serverSettingKeys(propertyNames: Iterable<string>): string[] {
  const keys: string[] = [];
  for (const name of propertyNames) {
    if (!name.startsWith('codestral.')) continue;
    const key = name.slice('codestral.'.length);
    if (CLIENT_ONLY_PREFIXES.some((prefix) => key === prefix || key.startsWith(`${prefix}.`))) {
      continue;
    }
    if (FORBIDDEN_KEYS.includes(key)) continue;
    keys.push(key);
  }
  return keys;
}

/** The values the user set (most specific scope wins), for the server's `codestral` section. */
export function explicitSettings(
  keys: readonly string[],
  inspect: (key: string) => Inspection | undefined,
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of keys) {
    const found = inspect(key);
    if (!found) continue;
    const value = [found.workspaceFolderValue, found.workspaceValue, found.globalValue].find(
      (candidate) => candidate !== undefined,
    );
    if (value !== undefined && value !== null) {
      settings[key] = value;
    }
  }
  return settings;
}

/**
 * The `codestral.enable` value after "enable/disable": a boolean flips; a per-language object
 * flips its `"*"` entry and keeps the languages.
 */
export function toggledEnable(current: unknown): boolean | Record<string, boolean> {
  if (typeof current === 'object' && current !== null && !Array.isArray(current)) {
    const languages = current as Record<string, boolean>;
    const everywhere = languages['*'] !== false;
    return { ...languages, '*': !everywhere };
  }
  return current === false;
}

/** Whether completions are on everywhere ("*") according to an `enable` value. */
export function isEnabled(value: unknown): boolean {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return (value as Record<string, unknown>)['*'] !== false;
  }
  return value !== false;
}

/** Extra server arguments from `codestral.server.logLevel`. */
export function serverArgs(logLevel: string | null | undefined): string[] {
  const level = (logLevel ?? '').toUpperCase();
  return ['DEBUG', 'INFO', 'WARNING', 'ERROR'].includes(level) ? ['--log-level', level] : [];
}
