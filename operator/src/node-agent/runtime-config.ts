// Whether the node's containerd will read the hosts directory the agent writes: its config must name that
// directory in the CRI plugin's registry `config_path` (the section's name depends on the config version).
// containerd 2.x pulls through its transfer service, which reads only a single config_path directory; with a
// list it needs `use_local_image_pull = true`. Pure: the config text in, a verdict with the line to add out.
import { parse } from 'smol-toml';

export type RuntimeCheck = { ok: true } | { ok: false; reason: string; message: string };

interface Section {
  /** the TOML table holding `config_path` */
  registryTable: string;
  get(config: Record<string, unknown>): unknown;
}

function table(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined;
}

function sectionFor(version: number): Section {
  if (version >= 3) {
    return { registryTable: 'plugins."io.containerd.cri.v1.images".registry', get: (c) => table(table(table(c.plugins)?.['io.containerd.cri.v1.images'])?.registry)?.config_path };
  }
  if (version === 2) {
    return { registryTable: 'plugins."io.containerd.grpc.v1.cri".registry', get: (c) => table(table(table(c.plugins)?.['io.containerd.grpc.v1.cri'])?.registry)?.config_path };
  }
  return { registryTable: 'plugins.cri.registry', get: (c) => table(table(table(c.plugins)?.cri)?.registry)?.config_path };
}

function normalize(path: string): string {
  return path.replace(/\/+$/, '');
}

/**
 * @param text the config file's content, or undefined when the file is missing
 * @param configFile its path on the node, for messages
 * @param certsDir the directory the agent writes, as the node sees it
 */
export function checkContainerdConfig(text: string | undefined, configFile: string, certsDir: string): RuntimeCheck {
  if (text === undefined) {
    return { ok: false, reason: 'RuntimeConfigNotFound', message: `${configFile} does not exist; set the chart value nodeAgent.containerdConfig to containerd's config file` };
  }
  let config: Record<string, unknown>;
  try {
    config = parse(text) as Record<string, unknown>;
  } catch (error) {
    return { ok: false, reason: 'RuntimeConfigUnreadable', message: `${configFile} is not valid TOML: ${(error as Error).message.split('\n')[0]}` };
  }
  const version = typeof config.version === 'number' ? config.version : 1;
  const section = sectionFor(version);
  const wanted = normalize(certsDir);
  const configured = section.get(config);
  if (typeof configured !== 'string' || configured.trim() === '') {
    const imports = Array.isArray(config.imports) && config.imports.length > 0 ? ` (its imports ${JSON.stringify(config.imports)} are not read)` : '';
    return {
      ok: false,
      reason: 'ConfigPathNotSet',
      message: `containerd's ${configFile} sets no registry config_path${imports}: add \`[${section.registryTable}] config_path = "${wanted}"\` and restart containerd`,
    };
  }
  const paths = configured.split(':').map(normalize).filter((p) => p !== '');
  if (!paths.includes(wanted)) {
    return {
      ok: false,
      reason: 'ConfigPathElsewhere',
      message: `containerd reads hosts from ${configured}, not ${wanted}: set the chart value nodeAgent.certsDir=${paths[0]}`,
    };
  }
  if (version >= 3 && paths.length > 1) {
    const images = table(table(config.plugins)?.['io.containerd.cri.v1.images']);
    if (images?.use_local_image_pull !== true) {
      return {
        ok: false,
        reason: 'LocalImagePullNotSet',
        message: `containerd 2.x pulls through its transfer service, which reads one config_path only (here "${configured}"): add \`[plugins."io.containerd.cri.v1.images"] use_local_image_pull = true\` or set config_path = "${wanted}"`,
      };
    }
  }
  return { ok: true };
}
