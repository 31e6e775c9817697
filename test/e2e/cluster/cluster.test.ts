// The local cluster is a real Kubernetes: Deployments with probes, CronJobs and Jobs, Services by DNS name from
// pods and by NodePort from the host, and PersistentVolumeClaims whose data outlives a pod.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apply, createNamespace, deleteNamespace, diagnostics, getJson, IMAGE, kubectl, waitFor } from '../../support/kube.ts';
import { REGISTRY_API_PORT as API, REGISTRY_COMMAND as CLI, REGISTRY_OPS_PORT as OPS } from '../../../registry/src/contract/image.ts';

let ns: string;
const REGISTRY_COMMAND = JSON.stringify([...CLI, 'serve', '--listen', `0.0.0.0:${API}`, '--storage', '/data', '--ops-listen', `0.0.0.0:${OPS}`]);

function registryDeployment(name: string, readinessPath: string): string {
  return `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  replicas: 1
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
        - name: registry
          image: ${IMAGE}
          imagePullPolicy: IfNotPresent
          command: ${REGISTRY_COMMAND}
          ports: [{ containerPort: ${API} }, { containerPort: ${OPS} }]
          readinessProbe: { httpGet: { path: ${readinessPath}, port: ${OPS} }, periodSeconds: 2, failureThreshold: 1 }
          volumeMounts: [{ name: data, mountPath: /data }]
      volumes: [{ name: data, emptyDir: {} }]
`;
}

async function readyReplicas(name: string): Promise<number> {
  return (await getJson(['-n', ns, 'get', 'deployment', name]))?.status?.readyReplicas ?? 0;
}

before(async () => {
  ns = await createNamespace('e2e-cluster');
});

after(async () => {
  await deleteNamespace(ns);
});

describe('the local cluster', () => {
  it('runs a Deployment of our image that becomes Ready through a readiness probe that really probes', async () => {
    await apply(registryDeployment('registry', '/readyz'), ns);
    await apply(registryDeployment('misprobed', '/no-such-path'), ns);
    await waitFor('the registry Deployment to be Ready', async () => (await readyReplicas('registry')) === 1, 180_000, () => diagnostics(ns));
    // the same pod with a probe that gets 404 must stay unready, or the probe is not really probing
    const running = await waitFor('the misprobed pod to run', async () => {
      const pods = await getJson(['-n', ns, 'get', 'pods', '-l', 'app=misprobed']);
      const pod = pods?.items?.[0];
      return pod?.status?.containerStatuses?.[0]?.state?.running ? pod : null;
    }, 120_000, () => diagnostics(ns));
    assert.ok(running);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    assert.equal(await readyReplicas('misprobed'), 0);
    const events = await kubectl(['-n', ns, 'get', 'events', '--field-selector', 'reason=Unhealthy', '-o', 'name']);
    assert.ok(events.stdout.trim().length > 0, 'no Unhealthy event from the failing probe');
  });

  it('runs a CronJob\'s Job to completion, whose pod reaches a Service by its DNS name', async () => {
    await apply(`
apiVersion: v1
kind: Service
metadata: { name: registry }
spec:
  selector: { app: registry }
  ports: [{ name: api, port: ${API} }]
---
apiVersion: batch/v1
kind: CronJob
metadata: { name: ping }
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: ping
              image: ${IMAGE}
              imagePullPolicy: IfNotPresent
              command: ["node", "-e", "fetch('http://registry.${ns}.svc.cluster.local:${API}/v2/').then(async (r) => { console.log('status', r.status, await r.text()); process.exit(r.status === 200 ? 0 : 1); }, (e) => { console.error(e); process.exit(1); })"]
`, ns);
    await kubectl(['-n', ns, 'create', 'job', 'ping-now', '--from=cronjob/ping']);
    await waitFor('the Job to complete', async () => {
      const job = await getJson(['-n', ns, 'get', 'job', 'ping-now']);
      if (job?.status?.failed) throw new Error('the Job failed');
      return (job?.status?.succeeded ?? 0) > 0;
    }, 180_000, () => diagnostics(ns));
    const logs = await kubectl(['-n', ns, 'logs', 'job/ping-now']);
    assert.match(logs.stdout, /status 200/);
  });

  it('lets the host reach a Service through a NodePort on 127.0.0.1', async () => {
    await apply(`
apiVersion: v1
kind: Service
metadata: { name: registry-nodeport }
spec:
  type: NodePort
  selector: { app: registry }
  ports: [{ name: api, port: ${API} }]
`, ns);
    const service = await getJson(['-n', ns, 'get', 'service', 'registry-nodeport']);
    const nodePort = service.spec.ports[0].nodePort as number;
    const response = await waitFor('the NodePort to answer', async () => {
      const r = await fetch(`http://127.0.0.1:${nodePort}/v2/`, { signal: AbortSignal.timeout(3000) });
      return r.status === 200 ? r : null;
    }, 60_000, () => diagnostics(ns));
    assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('binds a PVC, and data a pod wrote survives the pod\'s deletion and re-creation', async () => {
    const writer = (name: string, script: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  restartPolicy: Never
  securityContext: { runAsUser: 10001, runAsGroup: 10001 }
  containers:
    - name: main
      image: ${IMAGE}
      imagePullPolicy: IfNotPresent
      command: ["node", "-e", ${JSON.stringify(script)}]
      volumeMounts: [{ name: data, mountPath: /data }]
  volumes: [{ name: data, persistentVolumeClaim: { claimName: data } }]
`;
    await apply(`
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data }
spec:
  accessModes: [ReadWriteOnce]
  resources: { requests: { storage: 64Mi } }
`, ns);
    const marker = `written-${Date.now()}`;
    await apply(writer('write', `require('fs').writeFileSync('/data/marker', '${marker}'); console.log('wrote')`), ns);
    const succeeded = (name: string) => async () => {
      const pod = await getJson(['-n', ns, 'get', 'pod', name]);
      if (pod?.status?.phase === 'Failed') throw new Error(`pod ${name} failed`);
      return pod?.status?.phase === 'Succeeded';
    };
    await waitFor('the writer pod', succeeded('write'), 180_000, () => diagnostics(ns));
    assert.equal((await getJson(['-n', ns, 'get', 'pvc', 'data'])).status.phase, 'Bound');
    await kubectl(['-n', ns, 'delete', 'pod', 'write', '--wait=true']);
    await apply(writer('read', `console.log(require('fs').readFileSync('/data/marker', 'utf8'))`), ns);
    await waitFor('the reader pod', succeeded('read'), 180_000, () => diagnostics(ns));
    assert.equal((await kubectl(['-n', ns, 'logs', 'read'])).stdout.trim(), marker);
  });
});
