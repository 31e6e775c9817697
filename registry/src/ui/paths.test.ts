import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteManifestHref, deleteTagHref, imageHref, parseRepositoryPath, rawManifestHref, repositoryHref } from './paths.ts';

const digest = `sha256:${'a'.repeat(64)}`;
const below = (href: string) => href.slice('/ui/r/'.length);

describe('ui paths', () => {
  it('reads back every link it builds, for nested repository names', () => {
    assert.deepEqual(parseRepositoryPath(below(repositoryHref('team/app'))), { page: 'repository', repository: 'team/app' });
    assert.deepEqual(parseRepositoryPath(below(imageHref('team/app', digest))), { page: 'image', repository: 'team/app', digest });
    assert.deepEqual(parseRepositoryPath(below(rawManifestHref('team/app', digest))), { page: 'raw', repository: 'team/app', digest });
    assert.deepEqual(parseRepositoryPath(below(deleteManifestHref('team/app', digest))), { page: 'delete-manifest', repository: 'team/app', digest });
    assert.deepEqual(parseRepositoryPath(below(deleteTagHref('team/app', 'v1.0'))), { page: 'delete-tag', repository: 'team/app', tag: 'v1.0' });
  });

  it('takes repositories named like the UI\'s own words for repositories', () => {
    assert.deepEqual(parseRepositoryPath('a/m/b'), { page: 'repository', repository: 'a/m/b' });
    assert.deepEqual(parseRepositoryPath('a/tags/x/delete'), { page: 'repository', repository: 'a/tags/x/delete' });
    assert.deepEqual(parseRepositoryPath('a/m/not-a-digest'), { page: 'repository', repository: 'a/m/not-a-digest' });
  });

  for (const bad of ['', 'UPPER', 'a/m/sha256:zz', 'a/-/tags/-bad/delete', '../x', 'a/%zz', `a/m/${digest}/other`]) {
    it(`names nothing for ${JSON.stringify(bad.slice(0, 30))}`, () => {
      assert.equal(parseRepositoryPath(bad), null);
    });
  }
});
