/** JSON that kernel-leap wrote, read back through its schema. */
import type * as z from 'zod/mini';

import type { LeapError } from '../errors.js';

/** The parsed value; else `invalid`'s error, saying the text is no JSON or naming its first bad field. */
export function parseJsonWith<T>(
  text: string,
  schema: z.ZodMiniType<T>,
  invalid: (why: string, cause?: unknown) => LeapError,
): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw invalid('is not valid JSON', cause);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`has a bad field ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`);
  }
  return parsed.data;
}
