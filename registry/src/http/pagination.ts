// `n` / `last` pagination for tag and catalog listings, with the RFC 5988 Link header the spec describes.
import { ErrorCodes, registryError } from '../errors.ts';

export interface Page {
  items: string[];
  /** value for the Link header, when more items follow */
  link?: string;
}

export function paginate(sorted: string[], path: string, n: string | undefined, last: string | undefined): Page {
  let limit: number | undefined;
  if (n !== undefined) {
    limit = Number(n);
    if (!/^\d+$/.test(n) || !Number.isSafeInteger(limit)) {
      throw registryError(ErrorCodes.PAGINATION_NUMBER_INVALID, 'n must be a non-negative integer', { n });
    }
  }
  let start = 0;
  if (last !== undefined) {
    start = upperBound(sorted, last);
  }
  const end = limit === undefined ? sorted.length : Math.min(sorted.length, start + limit);
  const items = sorted.slice(start, end);
  if (limit !== undefined && limit > 0 && end < sorted.length) {
    const query = new URLSearchParams({ n: String(limit), last: items[items.length - 1]! });
    return { items, link: `<${path}?${query}>; rel="next"` };
  }
  return { items };
}

/** index of the first element greater than `value` */
function upperBound(sorted: string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! <= value) low = middle + 1;
    else high = middle;
  }
  return low;
}
