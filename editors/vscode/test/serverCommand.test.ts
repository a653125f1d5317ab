import './setup';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  INSTALL_COMMAND,
  type ResolveContext,
  ServerNotFoundError,
  expandPath,
  resolveServerCommand,
  which,
} from '../src/serverCommand';

function context(executables: string[], overrides: Partial<ResolveContext> = {}): ResolveContext {
  const set = new Set(executables);
  return {
    pathEnv: '/usr/local/bin:/home/me/.local/bin',
    platform: 'linux',
    home: '/home/me',
    workspaceFolder: '/work/project',
    isExecutable: (file) => set.has(file),
    ...overrides,
  };
}

describe('resolveServerCommand', () => {
  it('finds codestral-ls on PATH', () => {
    const found = resolveServerCommand({}, context(['/home/me/.local/bin/codestral-ls']));
    assert.deepEqual(found, { command: '/home/me/.local/bin/codestral-ls', args: [], source: 'PATH' });
  });

  it('prefers the configured path and passes extra arguments', () => {
    const found = resolveServerCommand(
      { serverPath: '~/venvs/c/bin/codestral-ls', extraArgs: ['--log-level', 'DEBUG'] },
      context(['/home/me/venvs/c/bin/codestral-ls', '/usr/local/bin/codestral-ls']),
    );
    assert.deepEqual(found, {
      command: '/home/me/venvs/c/bin/codestral-ls',
      args: ['--log-level', 'DEBUG'],
      source: 'codestral.server.path',
    });
  });

  it('runs python -m codestral_ls with a configured Python', () => {
    const found = resolveServerCommand(
      { pythonPath: '${workspaceFolder}/.venv/bin/python' },
      context(['/work/project/.venv/bin/python', '/usr/local/bin/codestral-ls']),
    );
    assert.deepEqual(found, {
      command: '/work/project/.venv/bin/python',
      args: ['-m', 'codestral_ls'],
      source: 'codestral.server.pythonPath',
    });
  });

  it('looks a bare python name up on PATH', () => {
    const found = resolveServerCommand({ pythonPath: 'python3' }, context(['/usr/local/bin/python3']));
    assert.equal(found.command, '/usr/local/bin/python3');
  });

  it('says how to install the server when it is nowhere', () => {
    assert.throws(
      () => resolveServerCommand({ serverPath: '  ', pythonPath: null }, context([])),
      (error: unknown) => {
        assert.ok(error instanceof ServerNotFoundError);
        assert.match(error.message, /not found on PATH/);
        assert.ok(error.message.includes(INSTALL_COMMAND));
        assert.match(error.message, /codestral\.server\.path/);
        return true;
      },
    );
  });

  it('says where the setting must go in a remote window, and why', () => {
    for (const location of [{}, { serverPath: '/nowhere/codestral-ls' }]) {
      assert.throws(
        () => resolveServerCommand(location, context([], { remoteName: 'ssh-remote' })),
        (error: unknown) => {
          assert.ok(error instanceof ServerNotFoundError);
          assert.match(error.message, /remote window \(ssh-remote\)/);
          assert.match(error.message, /Remote settings \("Preferences: Open Remote Settings"\)/);
          assert.match(error.message, /not in your User settings/);
          return true;
        },
      );
    }
    // A local window has no such advice.
    assert.throws(
      () => resolveServerCommand({}, context([])),
      (error: unknown) => error instanceof Error && !/Remote settings/.test(error.message),
    );
  });

  it('names the setting whose path is wrong, without falling back silently', () => {
    assert.throws(
      () => resolveServerCommand({ serverPath: '/nowhere/codestral-ls' }, context(['/usr/local/bin/codestral-ls'])),
      /codestral\.server\.path is "\/nowhere\/codestral-ls"/,
    );
    assert.throws(
      () => resolveServerCommand({ pythonPath: '/nowhere/python' }, context(['/usr/local/bin/codestral-ls'])),
      /codestral\.server\.pythonPath is "\/nowhere\/python"/,
    );
  });
});

describe('paths', () => {
  it('expands ~ and ${workspaceFolder}', () => {
    assert.equal(expandPath('~/x', context([])), '/home/me/x');
    assert.equal(expandPath('${workspaceFolder}/bin/s', context([])), '/work/project/bin/s');
    assert.throws(() => expandPath('${workspaceFolder}/s', context([], { workspaceFolder: undefined })), /no folder is open/);
  });

  it('finds Windows executables with their extension', () => {
    const found = which(
      'codestral-ls',
      context(['C:\\py\\Scripts\\codestral-ls.exe'], { platform: 'win32', pathEnv: 'C:\\py\\Scripts;C:\\Windows' }),
    );
    assert.ok(found?.endsWith('codestral-ls.exe'));
  });
});
