// How numbers, times and long values read on a page. Built on Intl (no hand-written formatter); pure, so the
// pages render the same text in tests as in a browser.

const byteUnits = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte', 'petabyte'] as const;
const byteFormats = byteUnits.map((unit) =>
  new Intl.NumberFormat('en', { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 1 }));
const countFormat = new Intl.NumberFormat('en');
const dateFormat = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
const relativeFormat = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

/** 1.5 MB: decimal units, as registries and `podman images` report sizes; 491 B (Intl's short byte is "byte") */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < byteUnits.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${countFormat.format(value)} B` : byteFormats[unit]!.format(value);
}

export function formatCount(count: number): string {
  return countFormat.format(count);
}

/** one count and its noun: "1 tag", "10,000 tags" */
export function countOf(count: number, singular: string, plural = `${singular}s`): string {
  return `${formatCount(count)} ${count === 1 ? singular : plural}`;
}

const RELATIVE_STEPS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['second', 60], ['minute', 60], ['hour', 24], ['day', 30], ['month', 12], ['year', Infinity],
];

/** "3 minutes ago": the coarsest unit in which the distance is at least 1 */
export function formatRelative(time: Date, now: Date): string {
  let value = (time.getTime() - now.getTime()) / 1000;
  for (const [unit, size] of RELATIVE_STEPS) {
    if (Math.abs(value) < size) return relativeFormat.format(Math.round(value), unit);
    value /= size;
  }
  return relativeFormat.format(Math.round(value), 'year');
}

/** the absolute time, in UTC so every replica and every test renders the same text */
export function formatTime(time: Date): string {
  return `${dateFormat.format(time)} UTC`;
}

/** sha256:0123456789ab — as many hex digits as `docker images` shows */
export function shortDigest(digest: string): string {
  const separator = digest.indexOf(':');
  return separator < 0 ? digest.slice(0, 12) : `${digest.slice(0, separator + 1)}${digest.slice(separator + 1, separator + 13)}`;
}

export interface Truncated {
  /** what is shown at first */
  shown: string;
  /** the whole value, when `shown` is only its start */
  whole?: string;
}

/** A value a pusher controls may be megabytes long: its start is shown, and the rest on request. */
export function truncate(value: string, maxLength: number): Truncated {
  return value.length <= maxLength ? { shown: value } : { shown: `${value.slice(0, maxLength)}…`, whole: value };
}

/** The first `max` entries of a list a pusher controls, and how many more there are. */
export function firstOf<T>(items: readonly T[], max: number): { items: T[]; more: number } {
  return { items: items.slice(0, max), more: Math.max(0, items.length - max) };
}
