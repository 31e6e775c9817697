// Which registry API requests are audited, and what their event names: the writes that change what can be pulled.
// Reads, upload sessions and chunk uploads are not audited (the request log has them).
import type { RouteMatch } from '../http/router.ts';
import type { AuditFields } from './auditor.ts';
import { tagOf } from './auditor.ts';

export function auditedApiRequest(route: RouteMatch, method: string, repository: string, query: (key: string) => string | undefined): AuditFields | null {
  if (route.group === 'manifests' && (method === 'PUT' || method === 'DELETE')) {
    const tag = tagOf(route.reference);
    const target = tag !== null ? { tag } : route.reference ? { digest: route.reference } : {};
    const action = method === 'PUT' ? 'manifest.push' : tag !== null ? 'tag.delete' : 'manifest.delete';
    return { action, repository, ...target };
  }
  if (route.group === 'blobs' && method === 'DELETE') {
    return { action: 'blob.delete', repository, ...(route.digest ? { digest: route.digest } : {}) };
  }
  const mount = method === 'POST' && route.group === 'uploads' ? query('mount') : undefined;
  if (mount !== undefined) {
    const from = query('from');
    return { action: 'blob.mount', repository, digest: mount, ...(from !== undefined ? { detail: { from } } : {}) };
  }
  return null;
}
