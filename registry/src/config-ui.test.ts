import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from './config.ts';

const withUi = (ui: unknown) => buildConfig({ storage: { root: '/tmp/x' }, ui });

describe('config: ui', () => {
  it('is enabled with the title regop when not configured', () => {
    assert.deepEqual(buildConfig({ storage: { root: '/tmp/x' } }).ui, { enabled: true, title: 'regop' });
  });

  it('takes enabled and a title', () => {
    assert.deepEqual(withUi({ enabled: false, title: 'Team A images' }).ui, { enabled: false, title: 'Team A images' });
  });

  it('refuses an enabled that is not a boolean, naming the key', () => {
    assert.throws(() => withUi({ enabled: 'yes' }), /ui\.enabled must be true or false/);
  });

  for (const bad of ['', '   ', 'x'.repeat(81), 'two\nlines', 42]) {
    it(`refuses the title ${JSON.stringify(bad).slice(0, 20)}`, () => {
      assert.throws(() => withUi({ title: bad }), /ui\.title must be one line of text of 1-80 characters/);
    });
  }

  it('refuses an unknown key under ui', () => {
    assert.throws(() => withUi({ theme: 'dark' }), /unknown key ui\.theme \(allowed: enabled, title\)/);
  });

  it('refuses a ui that is not a mapping', () => {
    assert.throws(() => withUi(true), /ui must be a mapping/);
  });
});
