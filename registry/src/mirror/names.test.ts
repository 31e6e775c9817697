import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findMirror, mirrorNameOfHost, routeByNamespace } from './names.ts';

const mirrors = [{ name: 'docker.io' }, { name: '10.0.0.1-5000' }];

describe('mirror names', () => {
  it('derives the prefix from the host, a port colon becoming a dash', () => {
    assert.equal(mirrorNameOfHost('docker.io'), 'docker.io');
    assert.equal(mirrorNameOfHost('10.0.0.1:5000'), '10.0.0.1-5000');
  });

  it('maps a repository under a prefix to its upstream name, adding library/ to a one-component Docker Hub name', () => {
    assert.equal(findMirror(mirrors, 'docker.io/busybox')?.upstreamRepository, 'library/busybox');
    assert.equal(findMirror(mirrors, 'docker.io/library/busybox')?.upstreamRepository, 'library/busybox');
    assert.equal(findMirror(mirrors, 'docker.io/bitnami/redis')?.upstreamRepository, 'bitnami/redis');
    assert.equal(findMirror(mirrors, '10.0.0.1-5000/busybox')?.upstreamRepository, 'busybox');
    assert.equal(findMirror(mirrors, 'docker.iox/busybox'), null);
    assert.equal(findMirror(mirrors, 'docker.io'), null);
  });

  it('routes by containerd\'s ns parameter to the mirror of that host', () => {
    assert.equal(routeByNamespace(mirrors, 'library/busybox', 'docker.io'), 'docker.io/library/busybox');
    assert.equal(routeByNamespace(mirrors, 'busybox', '10.0.0.1:5000'), '10.0.0.1-5000/busybox');
    assert.equal(routeByNamespace(mirrors, 'docker.io/library/busybox', 'docker.io'), 'docker.io/library/busybox');
    assert.equal(routeByNamespace(mirrors, 'library/busybox', 'quay.io'), 'library/busybox');
    assert.equal(routeByNamespace(mirrors, 'library/busybox', undefined), 'library/busybox');
  });
});
