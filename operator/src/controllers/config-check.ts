// The last link of the input chain (registry-inputs.ts): the config file as the registry itself will read it. A
// config the registry refuses at start would leave every new pod crash-looping while the old ones keep serving;
// caught here, it is a Degraded condition naming the key, and nothing is applied.
import { parse } from 'yaml';
import { buildConfig, ConfigError } from '../../../registry/src/config.ts';
import type { Registry } from '../api/v1alpha1/registry.ts';
import { registryConfigText } from '../resources/registry-config.ts';
import { InputError } from './registry-inputs.ts';

/** configs the registry's parser accepted, so a Registry's every reconcile does not parse its unchanged config again */
const accepted = new Set<string>();
const ACCEPTED_LIMIT = 1000;

export function checkRegistryConfig(registry: Registry): void {
  const text = registryConfigText(registry);
  if (accepted.has(text)) return;
  try {
    buildConfig(parse(text));
    if (accepted.size >= ACCEPTED_LIMIT) accepted.delete(accepted.values().next().value!);
    accepted.add(text);
  } catch (error) {
    if (error instanceof ConfigError) throw new InputError('InvalidRegistryConfig', `the registry would refuse this configuration: ${error.message}`);
    throw error;
  }
}
