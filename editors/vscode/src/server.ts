/** What the UI needs from the language client (implemented in client.ts, faked in tests). */

import type { ConnectionState } from './status';

export interface CodestralServer {
  /** `workspace/executeCommand` with one argument object; rejects with a readable Error. */
  execute<T>(command: string, args?: object): Promise<T>;
  /** Stop and start the server again (re-reading the key and the server path). */
  restart(): Promise<void>;
  /** The connection as the status bar should show it. */
  readonly connection: ConnectionState;
}

/** The message of an error thrown by a request, without JSON-RPC noise. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}
