import { z } from 'zod';
import { overlappingWindows, parseWindow, type MaintenanceWindow } from '../maintenance/windows';

/**
 * A list of maintenance windows (src/shared/maintenance/windows.ts): each must parse, and two in
 * one zone must not overlap (one of them would be a mistake, and which one cannot be guessed).
 */
export const maintenanceWindowsSchema = z.array(z.string().max(200)).superRefine((texts, ctx) => {
  const parsed: MaintenanceWindow[] = [];
  const at: number[] = [];
  texts.forEach((text, i) => {
    const window = parseWindow(text);
    if (typeof window === 'string') ctx.addIssue({ code: 'custom', path: [i], message: `not a maintenance window: ${window}` });
    else {
      parsed.push(window);
      at.push(i);
    }
  });
  for (const [a, b] of overlappingWindows(parsed)) {
    ctx.addIssue({ code: 'custom', path: [at[b]!], message: `overlaps the window ${JSON.stringify(parsed[a]!.text)}; merge them into one` });
  }
});

/** A period in which no release starts deploying a tenant: releases wait for its end. */
export const freezeSchema = z
  .strictObject({
    from: z.iso.datetime({ offset: true, message: 'expected an ISO 8601 date and time with its offset, such as "2026-12-20T00:00:00Z"' }),
    until: z.iso.datetime({ offset: true, message: 'expected an ISO 8601 date and time with its offset, such as "2027-01-04T08:00:00+01:00"' }),
    reason: z.string().trim().min(1, 'expected why the fleet is frozen (shown while releases wait)').max(200),
    /** Only these environments' tenants; default: the whole fleet. */
    environments: z.array(z.string().min(1)).min(1).optional(),
  })
  .superRefine((freeze, ctx) => {
    if (Date.parse(freeze.until) <= Date.parse(freeze.from)) {
      ctx.addIssue({ code: 'custom', path: ['until'], message: `ends before it starts (from ${freeze.from}); expected an end after the start` });
    }
  });
export type FreezeConfig = z.infer<typeof freezeSchema>;
