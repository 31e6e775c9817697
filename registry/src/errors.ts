// The registry's one error map, after distribution's errcode package: every failure a route can report is a
// registered descriptor, code throws a typed RegistryError, and http/error-handler.ts alone turns it into the
// spec's `{"errors":[{code,message,detail}]}` body.

export interface ErrorDescriptor {
  code: string;
  message: string;
  httpStatus: number;
}

function descriptor(code: string, httpStatus: number, message: string): ErrorDescriptor {
  return Object.freeze({ code, httpStatus, message });
}

export const ErrorCodes = Object.freeze({
  BLOB_UNKNOWN: descriptor('BLOB_UNKNOWN', 404, 'blob unknown to registry'),
  BLOB_UPLOAD_INVALID: descriptor('BLOB_UPLOAD_INVALID', 400, 'blob upload invalid'),
  BLOB_UPLOAD_UNKNOWN: descriptor('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry'),
  DIGEST_INVALID: descriptor('DIGEST_INVALID', 400, 'provided digest did not match uploaded content'),
  MANIFEST_BLOB_UNKNOWN: descriptor('MANIFEST_BLOB_UNKNOWN', 400, 'manifest references a manifest or blob unknown to registry'),
  MANIFEST_INVALID: descriptor('MANIFEST_INVALID', 400, 'manifest invalid'),
  MANIFEST_UNKNOWN: descriptor('MANIFEST_UNKNOWN', 404, 'manifest unknown to registry'),
  NAME_INVALID: descriptor('NAME_INVALID', 400, 'invalid repository name'),
  NAME_UNKNOWN: descriptor('NAME_UNKNOWN', 404, 'repository name not known to registry'),
  RANGE_INVALID: descriptor('RANGE_INVALID', 416, 'invalid content range'),
  SIZE_INVALID: descriptor('SIZE_INVALID', 400, 'provided length did not match content length'),
  TAG_INVALID: descriptor('TAG_INVALID', 400, 'invalid tag'),
  UNAUTHORIZED: descriptor('UNAUTHORIZED', 401, 'authentication required'),
  DENIED: descriptor('DENIED', 403, 'requested access to the resource is denied'),
  UNSUPPORTED: descriptor('UNSUPPORTED', 405, 'the operation is unsupported'),
  PAGINATION_NUMBER_INVALID: descriptor('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested'),
  TOOMANYREQUESTS: descriptor('TOOMANYREQUESTS', 429, 'too many requests'),
  /** the admin API: a collection (or a retention run) is under way; retry when it has finished */
  GC_IN_PROGRESS: descriptor('GC_IN_PROGRESS', 409, 'a garbage collection is already running'),
  /** a mirror cannot answer: the content is not cached and its upstream failed */
  UNAVAILABLE: descriptor('UNAVAILABLE', 503, 'service unavailable'),
  /**
   * a body over a configured limit (a manifest over storage.maxManifestBytes); the spec has no code for it, and
   * SIZE_INVALID means a length that does not match the content
   */
  PAYLOAD_TOO_LARGE: descriptor('PAYLOAD_TOO_LARGE', 413, 'payload too large'),
  /** the admin API: a body with an unknown field or a bad value, or a restore that cannot be done; nothing ran */
  ADMIN_REQUEST_INVALID: descriptor('ADMIN_REQUEST_INVALID', 400, 'invalid admin request'),
  UNKNOWN: descriptor('UNKNOWN', 500, 'unknown error'),
});

export class RegistryError extends Error {
  /**
   * Not enumerable: pino's error serializer walks an error's enumerable properties and tags every one that has a
   * `message`, which a frozen descriptor refuses (it threw, and took the process down, on `log.warn({ err })`).
   */
  declare readonly descriptor: ErrorDescriptor;
  readonly detail: unknown;
  /** extra response headers, e.g. WWW-Authenticate on UNAUTHORIZED or Retry-After on TOOMANYREQUESTS */
  readonly headers: Record<string, string>;

  constructor(descriptor: ErrorDescriptor, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message ?? descriptor.message);
    this.name = 'RegistryError';
    Object.defineProperty(this, 'descriptor', { value: descriptor, enumerable: false });
    this.detail = detail;
    this.headers = headers;
  }

  get httpStatus(): number {
    return this.descriptor.httpStatus;
  }
}

export function registryError(
  descriptor: ErrorDescriptor,
  message?: string,
  detail?: unknown,
  headers?: Record<string, string>,
): RegistryError {
  return new RegistryError(descriptor, message, detail, headers);
}
