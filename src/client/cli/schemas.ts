import { z } from 'zod';

/** A required option: "required: <what>" when missing, so the message says what to pass. */
export const required = <S extends z.ZodType<unknown, string>>(what: string, schema: S) =>
  z.string({ error: (issue) => (issue.input === undefined ? `required: ${what}` : 'expected a value') }).pipe(schema);

/** `a,b,c` → ['a', 'b', 'c'], each checked by `item`; blanks between commas are refused. */
export const commaList = <S extends z.ZodType<unknown, string>>(item: S) =>
  z
    .string()
    .transform((text) => text.split(',').map((part) => part.trim()))
    .pipe(z.array(item).min(1, 'expected at least one value'));

/** A whole number given as text, e.g. `--limit 20`. */
export const count = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`));

/** Names in the fleet config: environments, plans, clusters. */
export const configName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'expected a lowercase name: letters, digits and "-", starting with a letter');

export const flag = z.boolean().optional().default(false);
