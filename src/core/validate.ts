// Option / scenario validation helpers: every message names the field, the bad value and what
// would be accepted, so a person can fix the command line without reading the source.
import { z } from 'zod';
import { UsageError } from './errors.js';

/** A whole number from a CLI string, within bounds. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: `a whole number${min > Number.MIN_SAFE_INTEGER ? ` ≥ ${min}` : ''}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, {
      message: max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`,
    });
}

export function decimal(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, { message: `a number from ${min} to ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `a number from ${min} to ${max}` });
}

export function oneOf<T extends string>(values: readonly [T, ...T[]]) {
  return z.enum(values, { errorMap: () => ({ message: `one of ${values.join(', ')}` }) });
}

/**
 * Parses `raw` (option name → raw value) with `shape`; the first problem becomes a UsageError
 * naming the option as the user typed it.
 */
export function parseOptions<S extends z.ZodRawShape>(
  shape: S,
  raw: Record<string, unknown>,
  flag: (key: string) => string,
): z.infer<z.ZodObject<S>> {
  const parsed = z.object(shape).safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const key = String(issue.path[0] ?? '');
  const value = raw[key];
  const shown = value === undefined ? 'nothing' : JSON.stringify(value);
  throw new UsageError(`${flag(key)}: expected ${issue.message}, got ${shown}`);
}

/** camelCase option key → the flag a person typed. */
export function toFlag(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** A URL with one of `schemes` (e.g. ['http', 'https']); `what` says what it must point at. */
export function urlOf(schemes: readonly string[], what: string) {
  const shown = schemes.map((s) => `${s}://`).join(' or ');
  return z.string().refine(
    (text) => {
      try {
        return schemes.includes(new URL(text).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `${shown.startsWith('http') ? 'an' : 'a'} ${shown} URL of ${what}` },
  );
}
