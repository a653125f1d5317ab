import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatStatus, shortModel } from '../src/status';

describe('formatStatus', () => {
  it('shows the model and a sparkle when ready', () => {
    const view = formatStatus(
      { state: 'ready', model: 'codestral-latest', message: 'Codestral ready (codestral.mistral.ai)' },
      'running',
    );
    assert.equal(view.text, '$(sparkle) codestral-latest');
    assert.match(view.tooltip, /^Codestral: ready \(codestral\.mistral\.ai\)\n/);
    assert.match(view.tooltip, /Model: codestral-latest/);
    assert.match(view.tooltip, /Click to choose/);
    assert.equal(view.background, undefined);
  });

  it('says each thing once in the tooltip', () => {
    for (const message of ['Codestral ready (codestral-latest)', 'Codestral: ready', 'ready']) {
      const view = formatStatus({ state: 'ready', model: 'codestral-latest', message }, 'running');
      const lines = view.tooltip.split('\n');
      assert.equal(lines.filter((line) => /ready/i.test(line)).length, 1, view.tooltip);
      assert.equal(new Set(lines).size, lines.length, view.tooltip);
      assert.equal(lines.filter((line) => line.includes('codestral-latest')).length, 1, view.tooltip);
    }
    const other = formatStatus({ state: 'error', model: 'm', message: 'Codestral: endpoint down' }, 'running');
    assert.deepEqual(other.tooltip.split('\n').slice(0, 3), ['Codestral: error', 'Model: m', 'Codestral: endpoint down']);
  });

  it('spins while working', () => {
    const view = formatStatus({ state: 'working', model: 'codestral-2508' }, 'running');
    assert.equal(view.text, '$(sync~spin) codestral-2508');
  });

  it('marks errors and a rejected key in red, with the way out', () => {
    const error = formatStatus({ state: 'error', model: 'm', message: 'Unknown model m' }, 'running');
    assert.equal(error.background, 'statusBarItem.errorBackground');
    assert.match(error.tooltip, /Unknown model m/);
    const unauthorized = formatStatus({ state: 'unauthorized', model: 'm' }, 'running');
    assert.equal(unauthorized.text, '$(key) m');
    assert.equal(unauthorized.background, 'statusBarItem.errorBackground');
    assert.match(unauthorized.tooltip, /Set API Key/);
  });

  it('tells how long a rate limit lasts', () => {
    const view = formatStatus({ state: 'rateLimited', model: 'm', retryAfter: 12.2 }, 'running');
    assert.equal(view.background, 'statusBarItem.warningBackground');
    assert.match(view.tooltip, /Retrying in 13 s/);
    assert.ok(view.text.startsWith('$(watch)'));
  });

  it('shows disabled and excluded states', () => {
    assert.ok(formatStatus({ state: 'disabled', model: 'm' }, 'running').text.startsWith('$(circle-slash)'));
    assert.ok(formatStatus({ state: 'excluded', model: 'm' }, 'running').text.startsWith('$(eye-closed)'));
  });

  it('keeps unknown states readable', () => {
    const view = formatStatus({ state: 'somethingNew', model: 'm' }, 'running');
    assert.equal(view.text, '$(question) m');
    assert.match(view.tooltip, /somethingNew/);
  });

  it('shows the connection before any status arrives', () => {
    assert.equal(formatStatus(undefined, 'starting').text, '$(sync~spin) Codestral');
    assert.equal(formatStatus(undefined, 'running').text, '$(sync~spin) Codestral');
    const failed = formatStatus({ state: 'ready', model: 'm' }, 'failed', 'codestral-ls was not found');
    assert.equal(failed.text, '$(error) Codestral');
    assert.match(failed.tooltip, /codestral-ls was not found/);
    assert.equal(formatStatus(undefined, 'stopped').text, '$(circle-slash) Codestral');
  });

  it('shortens long model ids in the bar only', () => {
    const id = 'ft:codestral-latest:abcdef12:my-company-fine-tune';
    const view = formatStatus({ state: 'ready', model: id }, 'running');
    assert.equal(view.text, `$(sparkle) ${shortModel(id)}`);
    assert.ok(shortModel(id).length <= 24);
    assert.match(view.tooltip, new RegExp(id));
  });
});
