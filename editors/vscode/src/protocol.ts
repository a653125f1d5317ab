/**
 * The codestral-ls custom protocol (docs/protocol.md), as TypeScript types.
 * Plain data: nothing here imports `vscode`.
 */

export const Commands = {
  listModels: 'codestral.listModels',
  selectModel: 'codestral.selectModel',
  edit: 'codestral.edit',
  status: 'codestral.status',
  didAccept: 'codestral.didAccept',
  stats: 'codestral.stats',
} as const;

export const StatusNotification = 'codestral/status';

export type ModelKind = 'completion' | 'chat';

export type ServerState =
  | 'ready'
  | 'working'
  | 'disabled'
  | 'excluded'
  | 'error'
  | 'rateLimited'
  | 'unauthorized';

export interface StatusPayload {
  state: ServerState | string;
  model?: string | null;
  message?: string | null;
  uri?: string | null;
  retryAfter?: number | null;
}

export interface ModelInfo {
  id: string;
  name?: string | null;
  aliases?: string[] | null;
  fim?: boolean;
  chat?: boolean;
  contextLength?: number | null;
  deprecation?: string | null;
  replacement?: string | null;
  inUse?: ModelKind[] | null;
}

export interface ListModelsResult {
  endpoint?: string;
  backend?: string;
  completionModel?: string;
  chatModel?: string;
  models: ModelInfo[];
}

export interface SelectModelArgs {
  model?: string;
  kind?: ModelKind;
}

export interface SelectModelResult {
  model: string;
  kind: ModelKind;
  persisted: boolean;
}

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface EditArgs {
  uri: string;
  range: LspRange;
  instruction: string;
}

export interface EditResult {
  applied: boolean;
  message?: string;
}

/** `codestral.stats` (docs/stats.md). */
export interface StatsArgs {
  sinceDays?: number;
}

export interface StatsResult {
  summary: string;
  telemetry: boolean;
  file?: string;
  groups?: unknown[];
}
