# The regop image: one image, three entry points (the registry server is the default; the operator runs
# `node /app/dist/bundle/operator.mjs`, the node agent `node /app/dist/bundle/node-agent.mjs`): bundles, which
# start with less memory and CPU than the compiled modules, see operator/hack/bundle.ts.
# test/image/build.sh builds the same image without Docker.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# optional dependencies included: esbuild's binary for this platform is one
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY registry ./registry
COPY operator ./operator
RUN npm run build

FROM node:24-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev --omit=optional --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN groupadd --gid 10001 regop && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin regop
USER 10001:10001
ENTRYPOINT ["node", "/app/dist/bundle/registry/registry.mjs"]
CMD ["serve", "--help"]
