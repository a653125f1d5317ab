/**
 * The range `codestral.edit` rewrites, from the editor's selection.  Pure.
 */

import type { LspRange } from './protocol';

/**
 * The selection as it is, or the whole current line when nothing is selected.  A selection
 * that ends at column 0 of a later line stops at the end of the line before, so the newline
 * after the last selected line stays put.
 */
export function editRange(
  selection: LspRange,
  lineLength: (line: number) => number,
): LspRange {
  const { start, end } = selection;
  if (start.line === end.line && start.character === end.character) {
    return {
      start: { line: start.line, character: 0 },
      end: { line: start.line, character: lineLength(start.line) },
    };
  }
  if (end.character === 0 && end.line > start.line) {
    const last = end.line - 1;
    return { start, end: { line: last, character: lineLength(last) } };
  }
  return selection;
}

/** Why an instruction cannot be sent, or undefined when it is fine. */
export function validateInstruction(value: string): string | undefined {
  return value.trim() ? undefined : 'Say what to change, e.g. "add type hints".';
}
