// `helm test`'s check: the operator answers /readyz and serves its metrics. Exits 0 when both do.
const base = process.argv[2];
if (!base) {
  process.stderr.write('usage: healthcheck http://host:port\n');
  process.exit(2);
}
try {
  for (const path of ['/readyz', '/metrics']) {
    const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
    const body = await response.text();
    if (path === '/metrics' && !body.includes('regop_operator_')) throw new Error('/metrics has no regop_operator_ series');
    process.stdout.write(`${path}: ok\n`);
  }
} catch (error) {
  process.stderr.write(`operator not healthy: ${(error as Error).message}\n`);
  process.exit(1);
}
