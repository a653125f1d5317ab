/**
 * Explanations (Codestral: Explain) as read-only virtual documents.
 *
 * The server keeps each explanation in memory and opens `codestral-explain:/…md` with
 * `window/showDocument`; this content provider fetches the Markdown with the server command
 * `codestral.explanation`.  Such documents are read-only, and the language client's document
 * selector (`file` and `untitled` only) never syncs them, so they get no completions and no
 * code actions.  The client announces that it can open them with the capability
 * `experimental.codestral.explainDocuments`.
 */

import type * as vscode from 'vscode';

export const EXPLAIN_SCHEME = 'codestral-explain';
export const EXPLANATION_COMMAND = 'codestral.explanation';

/** The documents the language client syncs with the server: never explanations. */
export const DOCUMENT_SELECTOR = [{ scheme: 'file' }, { scheme: 'untitled' }];

export interface Executor {
  execute<T>(command: string, args?: object): Promise<T>;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Adds `experimental.codestral.explainDocuments: true`, keeping anything already there. */
export function withExplainDocuments(capabilities: { experimental?: unknown }): void {
  const experimental = isObject(capabilities.experimental) ? capabilities.experimental : {};
  const codestral = isObject(experimental.codestral) ? experimental.codestral : {};
  capabilities.experimental = { ...experimental, codestral: { ...codestral, explainDocuments: true } };
}

/** A static language-client feature announcing the capability. */
export const explainDocumentsFeature = {
  fillClientCapabilities: withExplainDocuments,
  initialize(): void {},
  getState(): { kind: 'static' } {
    return { kind: 'static' };
  },
  clear(): void {},
  dispose(): void {},
};

/** Serves `codestral-explain:` documents from the server. */
export class ExplanationProvider implements vscode.TextDocumentContentProvider {
  constructor(private readonly server: Executor) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    try {
      const answer = await this.server.execute<{ markdown?: unknown } | null>(EXPLANATION_COMMAND, {
        uri: uri.toString(),
      });
      return typeof answer?.markdown === 'string' ? answer.markdown : '';
    } catch (error) {
      return `The explanation could not be loaded: ${error instanceof Error ? error.message : String(error)}\n`;
    }
  }
}
