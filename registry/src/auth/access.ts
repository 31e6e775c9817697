// Per-user access rules from a YAML (or JSON) file: repository globs × actions. Globs are compiled once per load.
import picomatch from 'picomatch';
import { parse as parseYaml, YAMLError } from 'yaml';

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

interface CompiledRule {
  matches: (repository: string) => boolean;
  actions: ReadonlySet<Action>;
}

export interface AccessRules {
  anonymousPull: boolean;
  /** user → rules; a user absent here has no rights */
  users: Map<string, CompiledRule[]>;
}

class AccessRulesError extends Error {
  constructor(message: string) {
    super(`access rules: ${message}`);
    this.name = 'AccessRulesError';
  }
}

function fail(message: string): never {
  throw new AccessRulesError(message);
}

/** Throws naming the wrong entry (`users[1].rules[0].actions`); YAML syntax errors give only line and column. */
export function parseAccessRules(text: string): AccessRules {
  const document = readYaml(text) ?? {};
  const top = mapping(document, 'the file', ['anonymousPull', 'users']);
  const anonymousPull = top.anonymousPull ?? false;
  if (typeof anonymousPull !== 'boolean') fail('anonymousPull must be true or false');
  const users = new Map<string, CompiledRule[]>();
  list(top.users ?? [], 'users').forEach((entry, i) => {
    const where = `users[${i}]`;
    const { user, rules = [] } = mapping(entry, where, ['user', 'rules']);
    if (typeof user !== 'string' || user === '') fail(`${where}.user is missing`);
    // a user listed twice gets the rules of both entries
    const compiled = users.get(user) ?? [];
    list(rules, `${where}.rules`).forEach((rule, j) => compiled.push(compileRule(rule, `${where}.rules[${j}]`)));
    users.set(user, compiled);
  });
  return { anonymousPull, users };
}

export function allows(rules: AccessRules, user: string, repository: string, action: Action): boolean {
  return (rules.users.get(user) ?? []).some((rule) => rule.actions.has(action) && rule.matches(repository));
}

function compileRule(rule: unknown, where: string): CompiledRule {
  const { repositories, actions } = mapping(rule, where, ['repositories', 'actions']);
  const globs = list(repositories, `${where}.repositories`);
  if (globs.length === 0) fail(`${where}.repositories is empty`);
  globs.forEach((glob, k) => {
    if (typeof glob !== 'string' || glob === '') fail(`${where}.repositories[${k}] must be a non-empty string`);
    // picomatch ORs a list, so ["team-a/**", "!team-a/secret"] would grant every other repository
    if (glob.startsWith('!')) fail(`${where}.repositories[${k}]: negated globs are not supported`);
  });
  const granted = list(actions, `${where}.actions`);
  if (granted.length === 0) fail(`${where}.actions is empty`);
  granted.forEach((action, k) => {
    if (!ACTIONS.includes(action as Action)) {
      fail(`${where}.actions[${k}]: unknown action ${quote(action)} (allowed: ${ACTIONS.join(', ')})`);
    }
  });
  let matches: (repository: string) => boolean;
  try {
    matches = picomatch((globs as string[]).map(insideOnly));
  } catch {
    fail(`${where}.repositories holds an invalid glob`);
  }
  return { matches, actions: new Set(granted as Action[]) };
}

/**
 * `team-a/**` grants what is inside team-a, not the bare repository `team-a` (picomatch's `**` would also match
 * nothing, i.e. `team-a` itself): a namespace grant should not reach a repository that merely shares its name.
 * Write `["team-a", "team-a/**"]` for both.
 */
function insideOnly(glob: string): string {
  return glob.endsWith('/**') ? `${glob}/*` : glob;
}

function readYaml(text: string): unknown {
  try {
    // warnings would go to the console quoting the source; errors still throw
    return parseYaml(text, { logLevel: 'error' });
  } catch (error) {
    // the yaml package quotes the offending source lines in its message; report only where and what kind
    if (error instanceof YAMLError) {
      const at = error.linePos?.[0];
      fail(`not valid YAML or JSON (${error.code}${at ? ` at line ${at.line}, column ${at.col}` : ''})`);
    }
    fail('not valid YAML or JSON');
  }
}

function mapping(value: unknown, where: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} must be a mapping`);
  for (const key of Object.keys(value)) {
    // a misspelt key would otherwise silently grant nothing (or everything is denied without a hint)
    if (!keys.includes(key)) fail(`${where}: unknown key ${quote(key)} (allowed: ${keys.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) fail(`${where} must be a list`);
  return value;
}

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
