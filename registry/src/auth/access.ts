// Per-user access rules: repository globs × actions, from a YAML (or JSON) file.
import picomatch from 'picomatch';
import { parse as parseYaml } from 'yaml';

export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

interface CompiledRule {
  matches: (repository: string) => boolean;
  actions: Set<Action>;
}

export interface AccessRules {
  anonymousPull: boolean;
  /** user → rules; a user absent here has no rights */
  users: Map<string, CompiledRule[]>;
}

function fail(message: string): never {
  throw new Error(`access rules: ${message}`);
}

export function parseAccessRules(text: string): AccessRules {
  const document = (parseYaml(text) ?? {}) as unknown;
  if (typeof document !== 'object' || document === null || Array.isArray(document)) fail('the file must hold a mapping');
  const { anonymousPull = false, users = [] } = document as { anonymousPull?: unknown; users?: unknown };
  if (typeof anonymousPull !== 'boolean') fail('anonymousPull must be true or false');
  if (!Array.isArray(users)) fail('users must be a list');
  const compiled = new Map<string, CompiledRule[]>();
  users.forEach((entry: unknown, i) => {
    const where = `users[${i}]`;
    if (typeof entry !== 'object' || entry === null) fail(`${where} must be a mapping`);
    const { user, rules = [] } = entry as { user?: unknown; rules?: unknown };
    if (typeof user !== 'string' || user === '') fail(`${where}.user is missing`);
    if (!Array.isArray(rules)) fail(`${where}.rules must be a list`);
    const list = compiled.get(user) ?? [];
    rules.forEach((rule: unknown, j) => {
      const at = `${where}.rules[${j}]`;
      const { repositories, actions } = (rule ?? {}) as { repositories?: unknown; actions?: unknown };
      if (!Array.isArray(repositories) || repositories.length === 0 || repositories.some((r) => typeof r !== 'string' || r === '')) {
        fail(`${at}.repositories must be a non-empty list of globs`);
      }
      if (!Array.isArray(actions) || actions.length === 0) fail(`${at}.actions must be a non-empty list`);
      for (const action of actions) {
        if (!ACTIONS.includes(action as Action)) fail(`${at}.actions: unknown action ${JSON.stringify(action)} (pull, push, delete)`);
      }
      list.push({ matches: picomatch(repositories as string[]), actions: new Set(actions as Action[]) });
    });
    compiled.set(user, list);
  });
  return { anonymousPull, users: compiled };
}

export function allows(rules: AccessRules, user: string, repository: string, action: Action): boolean {
  return (rules.users.get(user) ?? []).some((rule) => rule.actions.has(action) && rule.matches(repository));
}
