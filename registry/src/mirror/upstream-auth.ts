// How the mirror authenticates to an upstream registry: the challenge in a 401's WWW-Authenticate header, and the
// bearer tokens of the distribution token spec (what Docker Hub speaks), cached per scope so that a pull of many
// blobs asks the token endpoint once.

export interface Challenge {
  /** lower case: 'basic', 'bearer', … */
  scheme: string;
  /** auth-params; names lower case */
  params: Record<string, string>;
}

// token68 or auth-param lists, after RFC 9110 §11.6.1: `Bearer realm="…",service="…", scope="a b"`
const SCHEME = /^\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)/;
const PARAM = /^\s*,?\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)/;

/** Every challenge in a WWW-Authenticate header (several may share one header, comma separated). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const challenges: Challenge[] = [];
  for (const value of values) {
    let rest = value;
    for (;;) {
      const scheme = SCHEME.exec(rest);
      if (!scheme) break;
      rest = rest.slice(scheme[0].length);
      const challenge: Challenge = { scheme: scheme[1]!.toLowerCase(), params: {} };
      for (;;) {
        const param = PARAM.exec(rest);
        if (!param) break;
        const quoted = param[3];
        challenge.params[param[1]!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : param[2]!;
        rest = rest.slice(param[0].length);
      }
      challenges.push(challenge);
    }
  }
  return challenges;
}

/** The scope a pull of one repository needs, as distribution and Docker Hub name it. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export interface TokenGrant {
  token: string;
  /** seconds the token is valid */
  expiresInS: number;
}

/** The body of a token endpoint's answer (distribution token spec): `token` or `access_token`, `expires_in`. */
export function parseTokenResponse(body: string): TokenGrant | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const fields = parsed as Record<string, unknown>;
  const token = typeof fields.token === 'string' && fields.token ? fields.token
    : typeof fields.access_token === 'string' && fields.access_token ? fields.access_token : null;
  if (!token) return null;
  // the spec: "if omitted, assume 60 seconds"; below 60 is also read as 60, as docker does
  const expiresInS = typeof fields.expires_in === 'number' && fields.expires_in > 60 ? fields.expires_in : 60;
  return { token, expiresInS };
}

interface CachedToken { token: string; renewAtMs: number }

/**
 * Tokens by scope, each used until shortly before it expires; concurrent requests for a scope without a token
 * share one issuance.
 */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** the cached token for the scope, or one from `issue` (called once however many callers wait) */
  async get(scope: string, issue: () => Promise<TokenGrant>): Promise<string> {
    const cached = this.#tokens.get(scope);
    if (cached && cached.renewAtMs > this.#now()) return cached.token;
    const pending = this.#pending.get(scope);
    if (pending) return pending;
    const issuance = (async () => {
      try {
        const grant = await issue();
        // renew a little early so a token never expires between our check and the upstream's
        const marginMs = Math.min(30_000, (grant.expiresInS * 1000) / 4);
        this.#tokens.set(scope, { token: grant.token, renewAtMs: this.#now() + grant.expiresInS * 1000 - marginMs });
        return grant.token;
      } finally {
        this.#pending.delete(scope);
      }
    })();
    this.#pending.set(scope, issuance);
    return issuance;
  }

  /** forgets a token the upstream refused (revoked, or issued for a scope it no longer grants) */
  forget(scope: string, token: string): void {
    if (this.#tokens.get(scope)?.token === token) this.#tokens.delete(scope);
  }
}
