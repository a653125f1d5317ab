import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { editRange, validateInstruction } from '../src/edit';

const lengths = [10, 20, 30];
const lineLength = (line: number) => lengths[line];

describe('editRange', () => {
  it('keeps a selection as it is', () => {
    const range = { start: { line: 0, character: 2 }, end: { line: 1, character: 5 } };
    assert.deepEqual(editRange(range, lineLength), range);
  });

  it('takes the whole line when nothing is selected', () => {
    const cursor = { line: 1, character: 4 };
    assert.deepEqual(editRange({ start: cursor, end: cursor }, lineLength), {
      start: { line: 1, character: 0 },
      end: { line: 1, character: 20 },
    });
  });

  it('stops before the newline when whole lines are selected', () => {
    const range = { start: { line: 0, character: 0 }, end: { line: 2, character: 0 } };
    assert.deepEqual(editRange(range, lineLength), {
      start: { line: 0, character: 0 },
      end: { line: 1, character: 20 },
    });
  });

  it('wants a non-blank instruction', () => {
    assert.ok(validateInstruction('   '));
    assert.equal(validateInstruction('add type hints'), undefined);
  });
});
