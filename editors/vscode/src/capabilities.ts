/**
 * The `codestral/status` opt-in (docs/protocol.md): the server sends its status notification
 * only to clients whose initialize capabilities contain
 * `experimental: {"codestral": {"statusNotification": true}}`. This static feature adds it
 * to what the language client sends. Nothing here imports `vscode` at run time.
 */

import type {
  ClientCapabilities,
  FeatureState,
  StaticFeature,
} from 'vscode-languageclient';

/** Adds `experimental.codestral.statusNotification: true`, keeping anything already there. */
export class StatusNotificationFeature implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const experimental = isObject(capabilities.experimental) ? capabilities.experimental : {};
    const codestral = isObject(experimental.codestral) ? experimental.codestral : {};
    capabilities.experimental = {
      ...experimental,
      codestral: { ...codestral, statusNotification: true },
    };
  }

  getState(): FeatureState {
    return { kind: 'static' };
  }

  initialize(): void {}

  clear(): void {}
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
