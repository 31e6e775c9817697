import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkContainerdConfig } from './runtime-config.ts';

const FILE = '/etc/containerd/config.toml';
const DIR = '/etc/containerd/certs.d';

describe('containerd config check', () => {
  it('accepts a version 2 config (containerd 1.6, kind) whose CRI registry reads the directory', () => {
    const text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d/"\n';
    assert.deepEqual(checkContainerdConfig(text, FILE, DIR), { ok: true });
  });

  it('accepts the directory among several', () => {
    const text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"\n';
    assert.deepEqual(checkContainerdConfig(text, FILE, DIR), { ok: true });
  });

  it('names the line to add when config_path is not set', () => {
    const result = checkContainerdConfig('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "pause"\n', FILE, DIR);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, 'ConfigPathNotSet');
    assert.match(!result.ok ? result.message : '', /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\] config_path = "\/etc\/containerd\/certs\.d"/);
  });

  it('names the version 3 section for containerd 2.x configs', () => {
    const result = checkContainerdConfig('version = 3\n', FILE, DIR);
    assert.match(!result.ok ? result.message : '', /io\.containerd\.cri\.v1\.images"\.registry\] config_path/);
    const good = 'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "/etc/containerd/certs.d"\n';
    assert.deepEqual(checkContainerdConfig(good, FILE, DIR), { ok: true });
  });

  it('asks containerd 2.x for local pulls when config_path is a list the transfer service would not read', () => {
    const list = 'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"\n';
    const result = checkContainerdConfig(list, FILE, DIR);
    assert.equal(!result.ok && result.reason, 'LocalImagePullNotSet');
    const local = 'version = 3\n[plugins."io.containerd.cri.v1.images"]\n  use_local_image_pull = true\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"\n';
    assert.deepEqual(checkContainerdConfig(local, FILE, DIR), { ok: true });
  });

  it('points at the chart value when containerd reads another directory', () => {
    const text = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/var/lib/rancher/certs.d"\n';
    const result = checkContainerdConfig(text, FILE, DIR);
    assert.equal(!result.ok && result.reason, 'ConfigPathElsewhere');
    assert.match(!result.ok ? result.message : '', /nodeAgent\.certsDir=\/var\/lib\/rancher\/certs\.d/);
  });

  it('reports a missing or broken file instead of throwing', () => {
    assert.equal((checkContainerdConfig(undefined, FILE, DIR) as { reason: string }).reason, 'RuntimeConfigNotFound');
    assert.equal((checkContainerdConfig('version = = 2', FILE, DIR) as { reason: string }).reason, 'RuntimeConfigUnreadable');
    assert.equal((checkContainerdConfig('[plugins.cri.registry]\nconfig_path = "/etc/containerd/certs.d"\n', FILE, DIR) as { ok: boolean }).ok, true);
  });
});
