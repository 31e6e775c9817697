// `n` / `last` pagination for tag and catalog listings, with the RFC 5988 Link header the spec describes.
import { ErrorCodes, registryError } from '../errors.ts';
import { pageOf, type ListingPage, type PageRequest } from '../content/listing-page.ts';

export interface Page {
  items: string[];
  /** value for the Link header, when more items follow */
  link?: string;
}

/** the page a client asks for with `n` and `last`; a bad `n` is PAGINATION_NUMBER_INVALID */
export function pageRequest(n: string | undefined, last: string | undefined): PageRequest {
  const request: PageRequest = last === undefined ? {} : { after: last };
  if (n === undefined) return request;
  const limit = Number(n);
  if (!/^\d+$/.test(n) || !Number.isSafeInteger(limit)) {
    throw registryError(ErrorCodes.PAGINATION_NUMBER_INVALID, 'n must be a non-negative integer', { n });
  }
  return { ...request, limit };
}

/** the page as the client gets it: its items, and the link to the next page when more follow */
export function pageReply(page: ListingPage, path: string, request: PageRequest): Page {
  const { items, more } = page;
  if (request.limit !== undefined && request.limit > 0 && more) {
    const query = new URLSearchParams({ n: String(request.limit), last: items[items.length - 1]! });
    return { items, link: `<${path}?${query}>; rel="next"` };
  }
  return { items };
}

export function paginate(sorted: string[], path: string, n: string | undefined, last: string | undefined): Page {
  const request = pageRequest(n, last);
  return pageReply(pageOf(sorted, request), path, request);
}
