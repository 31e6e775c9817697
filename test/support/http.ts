// A small HTTP client for tests that talk to the registry directly (undici, trusting the test CA).
import { Agent, request, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { RunningRegistry } from './registry.ts';

export interface Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  json(): any;
}

export interface Client {
  send(method: Dispatcher.HttpMethod, path: string, options?: {
    headers?: Record<string, string>;
    body?: Buffer | string | Readable;
    user?: { name: string; password: string } | null;
  }): Promise<Response>;
  close(): Promise<void>;
}

export function basicAuth(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
}

export function clientFor(registry: RunningRegistry, defaultUser?: { name: string; password: string }): Client {
  const agent = new Agent({ connect: registry.caPem ? { ca: registry.caPem } : {} });
  return {
    async send(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      const user = options.user === undefined ? defaultUser : options.user;
      if (user) headers.authorization = basicAuth(user.name, user.password);
      const response = await request(`${registry.url}${path}`, {
        method, headers, dispatcher: agent,
        ...(options.body !== undefined ? { body: options.body } : {}),
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      const flat: Record<string, string> = {};
      for (const [key, value] of Object.entries(response.headers)) {
        if (value !== undefined) flat[key] = Array.isArray(value) ? value.join(', ') : value;
      }
      return { status: response.statusCode, headers: flat, body, json: () => JSON.parse(body.toString('utf8')) };
    },
    close: () => agent.close(),
  };
}
