// `helm test`'s check: the operator answers /readyz and serves its metrics. Exits 0 when both do. A connection
// that fails is tried again for a few seconds: a network plugin that enforces NetworkPolicies may admit a pod
// that just started a moment later (kube-router does), and the check must not fail for that.
const base = process.argv[2];
if (!base) {
  process.stderr.write('usage: healthcheck http://host:port\n');
  process.exit(2);
}
const CONNECT_ATTEMPTS = 10;

async function get(path: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
    } catch (error) {
      if (attempt >= CONNECT_ATTEMPTS) throw new Error(`${path}: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

try {
  for (const path of ['/readyz', '/metrics']) {
    const response = await get(path);
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
    const body = await response.text();
    if (path === '/metrics' && !body.includes('regop_operator_')) throw new Error('/metrics has no regop_operator_ series');
    process.stdout.write(`${path}: ok\n`);
  }
} catch (error) {
  process.stderr.write(`operator not healthy: ${(error as Error).message}\n`);
  process.exit(1);
}
