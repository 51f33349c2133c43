import type { PipeTransform } from '@nestjs/common';
import { ProblemException } from './problem.exception';

// The names through which an object reaches its prototype. JSON.parse keeps them as plain own
// keys, and class-transformer drops them silently; either way the client sent something it should
// not have, so it is told rather than ignored.
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Refuses a body that uses a prototype's name as a key, at any depth, naming where (400). Runs
 * before the DTO pipe. Iterative, so a deeply nested body cannot exhaust the stack.
 */
export class RefusePrototypeKeysPipe implements PipeTransform<unknown, unknown> {
  transform(value: unknown): unknown {
    const found: string[] = [];
    const pending: { readonly value: unknown; readonly path: string }[] = [{ value, path: '' }];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      if (typeof next.value !== 'object' || next.value === null) continue;
      const isList = Array.isArray(next.value);
      for (const key of Object.keys(next.value)) {
        const path = isList ? `${next.path}[${key}]` : next.path ? `${next.path}.${key}` : key;
        if (!isList && PROTOTYPE_KEYS.has(key)) found.push(path);
        else pending.push({ value: (next.value as Record<string, unknown>)[key], path });
      }
    }
    if (found.length > 0)
      throw new ProblemException(
        400,
        'VALIDATION_FAILED',
        `The request body is not valid: ${found.join(', ')} may not be used as a field name.`,
        { fields: found },
      );
    return value;
  }
}
