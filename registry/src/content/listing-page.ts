// One page of a sorted listing (tags, repositories): the names after `after`, at most `limit` of them, and whether
// more follow. Shared by the stores, which may fetch only a page from storage, and the HTTP pagination.
export interface PageRequest {
  /** the last name of the previous page */
  after?: string;
  /** names per page; unset: all the rest */
  limit?: number;
}

export interface ListingPage {
  items: string[];
  /** names follow this page */
  more: boolean;
}

export function pageOf(sorted: string[], request: PageRequest): ListingPage {
  const start = request.after === undefined ? 0 : upperBound(sorted, request.after);
  const end = request.limit === undefined ? sorted.length : Math.min(sorted.length, start + request.limit);
  return { items: sorted.slice(start, end), more: end < sorted.length };
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
