// What the operator's manifests assume about the registry process and the image it runs in: the ports it listens
// on and where its command line is. The Dockerfile, test/image/build.sh and the Helm chart's NetworkPolicy write
// the same values in their own languages; contract.test.ts checks that they agree with these.

/** the registry API (config `listen`, default 0.0.0.0:REGISTRY_API_PORT) */
export const REGISTRY_API_PORT = 5000;
/** the plain-HTTP ops listener the operator configures (`ops.listen`): /healthz, /readyz, /metrics */
export const REGISTRY_OPS_PORT = 5001;
/** the bundled command line inside the image (operator/hack/bundle.ts): the app under /app (Dockerfile, test/image/build.sh), node on the PATH */
export const REGISTRY_CLI_PATH = '/app/dist/bundle/registry/registry.mjs';
/** a container's command that runs the registry's command line; its arguments (serve, gc, backup, ...) follow */
export const REGISTRY_COMMAND = ['node', REGISTRY_CLI_PATH];
