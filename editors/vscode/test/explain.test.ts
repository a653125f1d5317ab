import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type * as vscode from 'vscode';

import {
  DOCUMENT_SELECTOR,
  EXPLAIN_SCHEME,
  EXPLANATION_COMMAND,
  ExplanationProvider,
  explainDocumentsFeature,
  withExplainDocuments,
} from '../src/explain';
import { Uri } from './mock/vscode';

describe('explanations', () => {
  it('are never synced to the server, so they get no completions or code actions', () => {
    const schemes = DOCUMENT_SELECTOR.map((selector) => selector.scheme);
    assert.deepEqual(schemes, ['file', 'untitled']);
    assert.ok(!schemes.includes(EXPLAIN_SCHEME));
  });

  it('announces the capability, keeping other experimental fields', () => {
    const capabilities: { experimental?: unknown } = {
      experimental: { other: 1, codestral: { statusNotification: true } },
    };
    withExplainDocuments(capabilities);
    assert.deepEqual(capabilities.experimental, {
      other: 1,
      codestral: { statusNotification: true, explainDocuments: true },
    });
    const empty: { experimental?: unknown } = {};
    explainDocumentsFeature.fillClientCapabilities(empty);
    assert.deepEqual(empty.experimental, { codestral: { explainDocuments: true } });
    assert.deepEqual(explainDocumentsFeature.getState(), { kind: 'static' });
  });

  it('fetch their Markdown from the server by URI', async () => {
    const calls: { command: string; args?: object }[] = [];
    const provider = new ExplanationProvider({
      async execute<T>(command: string, args?: object): Promise<T> {
        calls.push({ command, args });
        return { markdown: '# Explanation of a.py, lines 1-2\n' } as T;
      },
    });
    const uri = Uri.parse('codestral-explain:/a.py-L1-L2.md?1') as unknown as vscode.Uri;
    const text = await provider.provideTextDocumentContent(uri);
    assert.equal(text, '# Explanation of a.py, lines 1-2\n');
    assert.deepEqual(calls, [{ command: EXPLANATION_COMMAND, args: { uri: 'codestral-explain:/a.py-L1-L2.md?1' } }]);
  });

  it('say so when the server cannot answer', async () => {
    const provider = new ExplanationProvider({
      async execute<T>(): Promise<T> {
        throw new Error('the server is not running');
      },
    });
    const text = await provider.provideTextDocumentContent(Uri.parse('codestral-explain:/a.md') as unknown as vscode.Uri);
    assert.match(text, /could not be loaded: the server is not running/);
  });
});
