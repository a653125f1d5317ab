/**
 * Model-picker entries from a `codestral.listModels` result.  Pure.
 */

import type { ListModelsResult, ModelInfo, ModelKind } from './protocol';

export interface ModelPickItem {
  /** Shown in bold: the model id, with a check mark when it is the one in use. */
  label: string;
  description?: string;
  detail?: string;
  /** The id sent back with `codestral.selectModel`. */
  model: string;
  /** Whether this model is the one in use for the kind being picked. */
  current: boolean;
}

function capable(model: ModelInfo, kind: ModelKind): boolean {
  return kind === 'completion' ? model.fim === true : model.chat === true;
}

function isCurrent(model: ModelInfo, kind: ModelKind, result: ListModelsResult): boolean {
  if (model.inUse?.includes(kind)) {
    return true;
  }
  const current = kind === 'completion' ? result.completionModel : result.chatModel;
  return current !== undefined && (model.id === current || (model.aliases ?? []).includes(current));
}

/**
 * The models able to do `kind` (fill-in-the-middle for completion, chat for chat): the current
 * one first, then the others in the server's order with deprecated models last.
 */
export function modelPickItems(result: ListModelsResult, kind: ModelKind): ModelPickItem[] {
  const items = result.models
    .filter((model) => capable(model, kind))
    .map((model, index) => {
      const current = isCurrent(model, kind, result);
      const description: string[] = [];
      if (model.aliases && model.aliases.length > 0) {
        description.push(model.aliases.join(', '));
      }
      if (current) {
        description.push('in use');
      }
      const detail: string[] = [];
      if (model.name && model.name !== model.id) {
        detail.push(model.name);
      }
      if (typeof model.contextLength === 'number') {
        detail.push(`${formatTokens(model.contextLength)} context`);
      }
      if (model.deprecation) {
        const replacement = model.replacement ? `; use ${model.replacement}` : '';
        detail.push(`deprecated ${model.deprecation.slice(0, 10)}${replacement}`);
      }
      const item: ModelPickItem = {
        label: current ? `$(check) ${model.id}` : model.id,
        model: model.id,
        current,
      };
      if (description.length > 0) item.description = description.join(' · ');
      if (detail.length > 0) item.detail = detail.join(' · ');
      return { item, index, deprecated: Boolean(model.deprecation) };
    });
  items.sort(
    (a, b) =>
      Number(b.item.current) - Number(a.item.current) ||
      Number(a.deprecated) - Number(b.deprecated) ||
      a.index - b.index,
  );
  return items.map((entry) => entry.item);
}

/** 256000 → "256k", 32768 → "32k", 131072 → "128k", 1000000 → "1M". */
export function formatTokens(count: number): string {
  if (count >= 1_000_000) {
    return `${Number((count / 1_000_000).toFixed(1))}M`;
  }
  if (count >= 1000) {
    const unit = count % 1000 !== 0 && count % 1024 === 0 ? 1024 : 1000;
    return `${Math.round(count / unit)}k`;
  }
  return String(count);
}
