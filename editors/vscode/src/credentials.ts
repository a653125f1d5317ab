/**
 * The API key: how it is stored in SecretStorage and handed to the server.  Pure.
 *
 * The key only ever travels through the server process's environment: never through settings,
 * initializationOptions or the log.
 */

/** Keys from codestral.mistral.ai and from api.mistral.ai are different kinds. */
export type KeyKind = 'codestral' | 'mistral';

export interface StoredKey {
  kind: KeyKind;
  key: string;
}

/** The SecretStorage entry holding the key and its kind (as JSON). */
export const SECRET_NAME = 'codestral.apiKey';

export const KEY_VARIABLE: Record<KeyKind, string> = {
  codestral: 'CODESTRAL_API_KEY',
  mistral: 'MISTRAL_API_KEY',
};

export const KEY_KINDS: ReadonlyArray<{ kind: KeyKind; label: string; detail: string }> = [
  {
    kind: 'codestral',
    label: 'Codestral key',
    detail: 'From codestral.mistral.ai (the Codestral endpoint); passed as CODESTRAL_API_KEY.',
  },
  {
    kind: 'mistral',
    label: 'Mistral API key',
    detail: 'From console.mistral.ai, for api.mistral.ai; passed as MISTRAL_API_KEY.',
  },
];

export function serializeKey(stored: StoredKey): string {
  return JSON.stringify({ kind: stored.kind, key: stored.key });
}

/** Read a stored entry; anything unreadable counts as no key. */
export function parseStoredKey(raw: string | undefined): StoredKey | undefined {
  if (!raw) {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(raw);
    if (typeof value === 'object' && value !== null) {
      const { kind, key } = value as { kind?: unknown; key?: unknown };
      if ((kind === 'codestral' || kind === 'mistral') && typeof key === 'string' && key) {
        return { kind, key };
      }
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/** The kind of key the `endpoint` setting calls for (a Codestral key unless it names api.mistral.ai). */
export function defaultKeyKind(endpoint: string | null | undefined): KeyKind {
  if (endpoint) {
    try {
      if (new URL(endpoint).hostname === 'api.mistral.ai') {
        return 'mistral';
      }
    } catch {
      // an invalid endpoint is the server's to report
    }
  }
  return 'codestral';
}

/** Why a typed key cannot be right, or undefined when it looks fine. */
export function validateKey(value: string): string | undefined {
  const key = value.trim();
  if (!key) {
    return 'Paste the key (or press Escape to cancel).';
  }
  if (/\s/.test(key)) {
    return 'A key has no spaces: paste it alone.';
  }
  if (key.length < 8) {
    return 'This is too short to be a key.';
  }
  return undefined;
}

/**
 * The server's environment: the editor's own, with the stored key (when there is one) as the
 * only key variable, so it wins over keys inherited from the shell.
 */
export function buildServerEnv(
  base: Readonly<Record<string, string | undefined>>,
  stored: StoredKey | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined) {
      env[name] = value;
    }
  }
  if (stored) {
    delete env.CODESTRAL_API_KEY;
    delete env.MISTRAL_API_KEY;
    env[KEY_VARIABLE[stored.kind]] = stored.key;
  }
  return env;
}

/** A description of the key in use that never shows the key itself. */
export function describeKey(stored: StoredKey | undefined, base: Readonly<Record<string, string | undefined>>): string {
  if (stored) {
    return `${KEY_VARIABLE[stored.kind]} from VS Code's secret storage`;
  }
  const inherited = Object.values(KEY_VARIABLE).filter((name) => base[name]);
  if (inherited.length > 0) {
    return `${inherited.join(' and ')} from the environment`;
  }
  return 'no key';
}
