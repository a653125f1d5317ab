import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatTokens, modelPickItems } from '../src/models';
import type { ListModelsResult } from '../src/protocol';

/** Shaped like the protocol's example, with the fake Mistral's catalog. */
const catalog: ListModelsResult = {
  endpoint: 'https://codestral.mistral.ai',
  backend: 'mistral',
  completionModel: 'codestral-latest',
  chatModel: 'mistral-large-latest',
  models: [
    {
      id: 'codestral-2405',
      name: 'codestral-2405',
      aliases: [],
      fim: true,
      chat: true,
      contextLength: 32768,
      deprecation: '2025-05-31T12:00:00Z',
      replacement: 'codestral-2508',
      inUse: [],
    },
    {
      id: 'mistral-large-latest',
      name: 'mistral-large-latest',
      aliases: ['mistral-large-2411'],
      fim: false,
      chat: true,
      contextLength: 131072,
      inUse: ['chat'],
    },
    { id: 'mistral-embed', aliases: [], fim: false, chat: false, contextLength: 8192, inUse: [] },
    {
      id: 'codestral-2508',
      name: 'Codestral',
      aliases: ['codestral-latest'],
      fim: true,
      chat: true,
      contextLength: 256000,
      deprecation: null,
      replacement: null,
      inUse: ['completion'],
    },
  ],
};

describe('modelPickItems', () => {
  it('offers only fill-in-the-middle models for completions, the one in use first', () => {
    const items = modelPickItems(catalog, 'completion');
    assert.deepEqual(
      items.map((item) => item.model),
      ['codestral-2508', 'codestral-2405'],
    );
    assert.equal(items[0].label, '$(check) codestral-2508');
    assert.equal(items[0].current, true);
    assert.equal(items[0].description, 'codestral-latest · in use');
    assert.equal(items[0].detail, 'Codestral · 256k context');
    assert.equal(items[1].label, 'codestral-2405');
    assert.equal(items[1].detail, '32k context · deprecated 2025-05-31; use codestral-2508');
  });

  it('offers chat models for the chat kind', () => {
    const items = modelPickItems(catalog, 'chat');
    assert.deepEqual(
      items.map((item) => item.model),
      ['mistral-large-latest', 'codestral-2508', 'codestral-2405'],
    );
    assert.equal(items[0].current, true);
    assert.equal(items[1].current, false);
  });

  it('falls back to the completionModel field (by alias) when inUse is absent', () => {
    const items = modelPickItems(
      {
        completionModel: 'codestral-latest',
        models: [
          { id: 'a', fim: true },
          { id: 'codestral-2508', aliases: ['codestral-latest'], fim: true },
        ],
      },
      'completion',
    );
    assert.equal(items[0].model, 'codestral-2508');
    assert.equal(items[0].current, true);
    assert.equal(items[1].current, false);
  });

  it('gives nothing when the endpoint has no capable model', () => {
    assert.deepEqual(modelPickItems({ models: [{ id: 'embed', fim: false, chat: false }] }, 'completion'), []);
  });
});

describe('formatTokens', () => {
  it('abbreviates context lengths', () => {
    assert.equal(formatTokens(256000), '256k');
    assert.equal(formatTokens(32768), '32k');
    assert.equal(formatTokens(131072), '128k');
    assert.equal(formatTokens(1_000_000), '1M');
    assert.equal(formatTokens(512), '512');
  });
});
