/**
 * Makes `require('vscode')` load test/mock/vscode.  Imported first by every test file.
 */

import Module from 'node:module';
import * as path from 'node:path';

const mockPath = path.join(__dirname, 'mock', 'vscode.js');
const loader = Module as unknown as {
  _resolveFilename(request: string, ...rest: unknown[]): string;
};
const original = loader._resolveFilename;
if (!(original as { codestralMock?: boolean }).codestralMock) {
  const patched = function (this: unknown, request: string, ...rest: unknown[]): string {
    return request === 'vscode' ? mockPath : original.call(this, request, ...rest);
  };
  (patched as { codestralMock?: boolean }).codestralMock = true;
  loader._resolveFilename = patched;
}
