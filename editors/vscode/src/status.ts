/**
 * What the status-bar item shows, from the last `codestral/status` payload and the state of
 * the connection to the server.  Pure: the vscode layer copies the fields onto the item.
 */

import type { StatusPayload } from './protocol';

/** The language client's view of the server process. */
export type ConnectionState = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusView {
  /** Status-bar text, with a codicon such as `$(sync~spin)`. */
  text: string;
  /** Hover text (plain). */
  tooltip: string;
  /** A theme colour id for the background, for states that need the user's attention. */
  background?: 'statusBarItem.errorBackground' | 'statusBarItem.warningBackground';
}

const ICONS: Record<string, string> = {
  ready: '$(sparkle)',
  working: '$(sync~spin)',
  disabled: '$(circle-slash)',
  excluded: '$(eye-closed)',
  error: '$(error)',
  rateLimited: '$(watch)',
  unauthorized: '$(key)',
};

const LABELS: Record<string, string> = {
  ready: 'ready',
  working: 'working…',
  disabled: 'completions off',
  excluded: 'file excluded',
  error: 'error',
  rateLimited: 'rate limited',
  unauthorized: 'key missing or rejected',
};

const CLICK_HINT = 'Click to choose the completion model.';

/** Shorten a model id for the status bar (the tooltip keeps the full id). */
export function shortModel(model: string, max = 24): string {
  return model.length <= max ? model : `${model.slice(0, max - 1)}…`;
}

/** The server's message without a leading "Codestral" (the tooltip's first word already). */
function bareMessage(message: string | null | undefined): string {
  return (message ?? '').trim().replace(/^Codestral\b:?\s*/i, '');
}

/** Whether the message merely restates the label, e.g. "Codestral ready (host)" for ready. */
function restatesLabel(label: string, message: string | null | undefined): boolean {
  const bare = bareMessage(message).toLowerCase();
  const word = label.replace(/…$/, '').toLowerCase();
  return bare !== '' && (bare === word || bare.startsWith(`${word} `) || bare.startsWith(`${word}(`));
}

/**
 * The tooltip's first line: the label, or the message when it says the same with more (minus
 * the model in brackets, which has a line of its own).
 */
function headline(label: string, message: string | null | undefined, model?: string | null): string {
  if (!restatesLabel(label, message)) {
    return `Codestral: ${label}`;
  }
  let text = bareMessage(message);
  if (model) {
    text = text.split(` (${model})`).join('');
  }
  return `Codestral: ${text}`;
}

/** The message as a line of its own, unless the headline already carries it. */
function messageDetail(label: string, message: string | null | undefined): string | undefined {
  if (!message || restatesLabel(label, message)) {
    return undefined;
  }
  return message.trim();
}

export function formatStatus(
  payload: StatusPayload | undefined,
  connection: ConnectionState,
  failure?: string,
): StatusView {
  if (connection === 'failed') {
    return {
      text: '$(error) Codestral',
      tooltip: `Codestral: the server is not running. ${failure ?? ''}`.trim(),
      background: 'statusBarItem.errorBackground',
    };
  }
  if (connection === 'stopped') {
    return { text: '$(circle-slash) Codestral', tooltip: 'Codestral: the server is stopped.' };
  }
  if (connection === 'starting' || payload === undefined) {
    return { text: '$(sync~spin) Codestral', tooltip: 'Codestral: starting the server…' };
  }
  const state = payload.state;
  const icon = ICONS[state] ?? '$(question)';
  const model = payload.model ? shortModel(payload.model) : 'Codestral';
  const lines = [headline(LABELS[state] ?? state, payload.message, payload.model)];
  if (payload.model) {
    lines.push(`Model: ${payload.model}`);
  }
  const detail = messageDetail(LABELS[state] ?? state, payload.message);
  if (detail) {
    lines.push(detail);
  }
  if (state === 'rateLimited' && typeof payload.retryAfter === 'number') {
    lines.push(`Retrying in ${Math.ceil(payload.retryAfter)} s.`);
  }
  if (state === 'unauthorized') {
    lines.push('Run "Codestral: Set API Key" to store a key.');
  }
  lines.push(CLICK_HINT);
  const view: StatusView = { text: `${icon} ${model}`, tooltip: lines.join('\n') };
  if (state === 'error' || state === 'unauthorized') {
    view.background = 'statusBarItem.errorBackground';
  } else if (state === 'rateLimited') {
    view.background = 'statusBarItem.warningBackground';
  }
  return view;
}
