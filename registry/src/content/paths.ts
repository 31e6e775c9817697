// The on-disk layout, in one place. One global content-addressed blob store; per repository a small index of
// links, tags and referrers. Names starting with `_` cannot be repository name components, so a repository's
// own metadata never collides with a nested repository (`a` and `a/_tags` cannot both be repositories).
import type { ParsedDigest } from '../oci/digest.ts';

export const BLOBS_ROOT = 'blobs';
export const UPLOADS_ROOT = 'uploads';
export const REPOSITORIES_ROOT = 'repositories';
export const METADATA_DIRS = ['_layers', '_manifests', '_tags', '_referrers'] as const;

/** the GC fence's records on shared storage (gc-fence.ts): running collections, request holds, link intents */
export const GC_FENCE_ROOTS = { runs: 'gc/runs', holds: 'gc/holds', intents: 'gc/intents' } as const;

export const paths = {
  /** the key that signs the web UI's sessions, one for every replica (ui/session-key.ts) */
  uiSessionKey: '_ui/session-key',
  /** the last runs of garbage collection or retention, for the UI's storage page (ops/run-history.ts) */
  runHistory: (kind: 'gc' | 'retention' | 'backup') => `_runs/${kind}.json`,
  blob: (d: ParsedDigest) => `${BLOBS_ROOT}/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`,
  upload: (id: string) => `${UPLOADS_ROOT}/${id}`,
  uploadData: (id: string) => `${UPLOADS_ROOT}/${id}/data`,
  uploadInfo: (id: string) => `${UPLOADS_ROOT}/${id}/info.json`,
  repository: (name: string) => `${REPOSITORIES_ROOT}/${name}`,
  layerLinks: (name: string) => `${REPOSITORIES_ROOT}/${name}/_layers`,
  layerLink: (name: string, d: ParsedDigest) => `${REPOSITORIES_ROOT}/${name}/_layers/${d.algorithm}/${d.hex}`,
  manifestRecords: (name: string) => `${REPOSITORIES_ROOT}/${name}/_manifests`,
  manifestRecord: (name: string, d: ParsedDigest) => `${REPOSITORIES_ROOT}/${name}/_manifests/${d.algorithm}/${d.hex}`,
  tags: (name: string) => `${REPOSITORIES_ROOT}/${name}/_tags`,
  /**
   * A tag is a directory holding its record, so that listing tags reads names only: an object store lists a
   * directory's sub-prefixes from its index, but may look at every object it lists (versitygw stats each file and
   * reads its attributes). Storage written before holds the record as a file at the directory's path
   * (`tagDirectory`), which RepositoryStore still reads.
   */
  tag: (name: string, tag: string) => `${REPOSITORIES_ROOT}/${name}/_tags/${tag}/current`,
  /** a tag's directory; on storage written before tags were directories, the file of the tag's record */
  tagDirectory: (name: string, tag: string) => `${REPOSITORIES_ROOT}/${name}/_tags/${tag}`,
  referrers: (name: string, subject: ParsedDigest) =>
    `${REPOSITORIES_ROOT}/${name}/_referrers/${subject.algorithm}/${subject.hex}`,
  referrer: (name: string, subject: ParsedDigest, referrer: ParsedDigest) =>
    `${REPOSITORIES_ROOT}/${name}/_referrers/${subject.algorithm}/${subject.hex}/${referrer.algorithm}-${referrer.hex}`,
  pulls: (name: string) => `${REPOSITORIES_ROOT}/${name}/_pulls.json`,
  /** on shared storage each process flushes its own file, so replicas never overwrite each other's pulls */
  pullsByWriter: (name: string) => `${REPOSITORIES_ROOT}/${name}/_pulls`,
  pullsOfWriter: (name: string, writer: string) => `${REPOSITORIES_ROOT}/${name}/_pulls/${writer}.json`,
};
