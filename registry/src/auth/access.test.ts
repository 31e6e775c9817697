import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allows, parseAccessRules } from './access.ts';

const RULES = `
anonymousPull: false
users:
  - user: alice
    rules:
      - repositories: ["team-a/*", "shared/**"]
        actions: [pull, push]
      - repositories: ["team-a/*"]
        actions: [delete]
  - user: ci
    rules:
      - repositories: ["**"]
        actions: [pull]
  - user: nobody
`;

describe('access rules', () => {
  const rules = parseAccessRules(RULES);

  it('matches * within one path component only', () => {
    assert.ok(allows(rules, 'alice', 'team-a/app', 'push'));
    assert.ok(allows(rules, 'alice', 'team-a/app', 'delete'));
    assert.ok(!allows(rules, 'alice', 'team-a/x/y', 'pull'));
    assert.ok(!allows(rules, 'alice', 'team-a', 'pull'));
    assert.ok(!allows(rules, 'alice', 'team-ab/app', 'pull'));
  });

  it('matches ** at any depth', () => {
    assert.ok(allows(rules, 'alice', 'shared/a/b/c', 'push'));
    assert.ok(!allows(rules, 'alice', 'shared/a', 'delete'));
    assert.ok(allows(rules, 'ci', 'x', 'pull'));
    assert.ok(allows(rules, 'ci', 'a/b/c/d', 'pull'));
    assert.ok(!allows(rules, 'ci', 'a/b', 'push'));
  });

  it('grants with `team-a/**` what is inside team-a, not the bare repository team-a', () => {
    const namespace = parseAccessRules('users:\n- user: u\n  rules: [{repositories: ["team-a/**"], actions: [pull]}]\n');
    assert.ok(allows(namespace, 'u', 'team-a/app', 'pull'));
    assert.ok(allows(namespace, 'u', 'team-a/x/y', 'pull'));
    assert.ok(!allows(namespace, 'u', 'team-a', 'pull'));
    const both = parseAccessRules('users:\n- user: u\n  rules: [{repositories: ["team-a", "team-a/**"], actions: [pull]}]\n');
    assert.ok(allows(both, 'u', 'team-a', 'pull') && allows(both, 'u', 'team-a/app', 'pull'));
    const everything = parseAccessRules('users:\n- user: u\n  rules: [{repositories: ["**"], actions: [pull]}]\n');
    assert.ok(allows(everything, 'u', 'team-a', 'pull'), 'a lone ** still matches every repository');
  });

  it('gives no rights to a user without rules or not listed', () => {
    assert.ok(!allows(rules, 'nobody', 'team-a/app', 'pull'));
    assert.ok(!allows(rules, 'mallory', 'team-a/app', 'pull'));
    assert.ok(!allows(rules, 'constructor', 'x', 'pull'));
  });

  it('reads JSON, anonymousPull, and an empty file as no rules', () => {
    const json = parseAccessRules('{"anonymousPull": true, "users": [{"user": "u", "rules": [{"repositories": ["r"], "actions": ["pull"]}]}]}');
    assert.equal(json.anonymousPull, true);
    assert.ok(allows(json, 'u', 'r', 'pull'));
    assert.deepEqual(parseAccessRules(''), { anonymousPull: false, users: new Map() });
  });

  it('merges the rules of a user listed twice', () => {
    const merged = parseAccessRules('users:\n- user: u\n  rules: [{repositories: [a], actions: [pull]}]\n- user: u\n  rules: [{repositories: [b], actions: [push]}]\n');
    assert.ok(allows(merged, 'u', 'a', 'pull') && allows(merged, 'u', 'b', 'push'));
  });

  const rule = (body: string) => `users:\n  - user: a\n    rules:\n      - ${body}\n`;
  for (const [name, text, message] of [
    ['an unknown action', rule('{repositories: [x], actions: [pull, fly]}'), /users\[0\]\.rules\[0\]\.actions\[1\]: unknown action "fly"/],
    ['a missing user', 'users:\n  - rules: []\n', /users\[0\]\.user is missing/],
    ['users not a list', 'users: {alice: {}}\n', /users must be a list/],
    ['rules not a list', 'users:\n  - user: a\n    rules: {repositories: [x]}\n', /users\[0\]\.rules must be a list/],
    ['repositories not a list', rule('{repositories: "x", actions: [pull]}'), /users\[0\]\.rules\[0\]\.repositories must be a list/],
    ['actions empty', rule('{repositories: [x], actions: []}'), /users\[0\]\.rules\[0\]\.actions is empty/],
    ['a rule not a mapping', rule('pull'), /users\[0\]\.rules\[0\] must be a mapping/],
    ['a misspelt key', rule('{repository: [x], actions: [pull]}'), /users\[0\]\.rules\[0\]: unknown key "repository"/],
    ['a misspelt top-level key', 'user:\n  - user: a\n', /the file: unknown key "user"/],
    ['a negated glob', rule('{repositories: ["!secret/**"], actions: [pull]}'), /repositories\[0\]: negated globs are not supported/],
    ['anonymousPull not a boolean', 'anonymousPull: "yes"\n', /anonymousPull must be true or false/],
  ] as const) {
    it(`rejects ${name}, naming the entry`, () => {
      assert.throws(() => parseAccessRules(text), message);
    });
  }

  it('reports YAML syntax errors by position without quoting the file', () => {
    assert.throws(() => parseAccessRules('users: [[[broken\nhunter2: x\n'), (error: Error) => {
      assert.match(error.message, /not valid YAML or JSON \(\w+ at line \d+, column \d+\)/);
      assert.doesNotMatch(error.message, /broken|hunter2/);
      return true;
    });
  });
});
