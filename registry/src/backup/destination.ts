// Where a backup goes, or a restore comes from: a directory, or an S3-compatible bucket, described with the
// `storage` section's keys of the registry's config file (`root`, or `s3: {bucket, prefix, endpoint, ...}`), so
// one parser checks both and a destination opens with the same drivers.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { buildConfig, ConfigError, type RegistryConfig } from '../config.ts';
import type { LocationFile } from '../contract/config-file.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { describeStorage, openStorage } from '../storage/open.ts';

export type BackupLocation = Pick<RegistryConfig['storage'], 'root' | 's3'>;

/** a location file's keys (the operator writes one for a backup Job: contract/config-file.ts) */
const LOCATION_KEYS: ReadonlyArray<keyof LocationFile> = ['root', 's3'];

/** `{root: DIR}` or `{s3: {...}}`; throws ConfigError naming the problem (never a credential: keys come from files) */
export function parseLocation(raw: unknown, what = 'destination'): BackupLocation {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${what} must be a mapping with root or s3`);
  const unknown = Object.keys(raw).filter((key) => !(LOCATION_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) throw new ConfigError(`unknown key ${what}.${unknown[0]} (allowed: ${LOCATION_KEYS.join(', ')})`);
  let storage: RegistryConfig['storage'];
  try {
    storage = buildConfig({ storage: raw as Record<string, unknown> }).storage;
  } catch (error) {
    // the storage section's messages say `storage.`; here it is the destination
    if (error instanceof ConfigError) {
      throw new ConfigError(error.message.replaceAll('storage.root (or --storage)', `${what}.root`)
        .replaceAll(' (--storage)', '').replaceAll('storage.', `${what}.`));
    }
    throw error;
  }
  return { ...(storage.root ? { root: storage.root } : {}), ...(storage.s3 ? { s3: storage.s3 } : {}) };
}

/** a YAML (or JSON) file holding a location */
export function readLocationFile(file: string, what = 'destination'): BackupLocation {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return parseLocation(parseYaml(text) ?? {}, what);
}

export function openLocation(location: BackupLocation): Promise<StorageDriver> {
  return openStorage(location as RegistryConfig['storage']);
}

/** for reports and logs: a directory, or s3://bucket/prefix at the endpoint; never a credential */
export function describeLocation(location: BackupLocation): string {
  return describeStorage(location as RegistryConfig['storage']);
}
