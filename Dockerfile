# calserve images, non-root, `calserve` on the PATH, no TypeScript tooling at run time.
#   docker build -t calserve:0.1.0 .                                 CPU (the default target)
#   docker build --target cuda -t calserve:0.1.0-cuda .              NVIDIA GPUs (CUDA 12, cuDNN 9)
# Both run `calserve serve` (dist/main.js) as uid 1000; see "Docker" in the README.
ARG NODE_IMAGE=node:20-bookworm-slim
# onnxruntime-node 1.30's CUDA execution provider is built for CUDA 12 with cuDNN 9.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles its native addon when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
# onnxruntime-node's install script (which downloads only the CUDA provider) is denied in
# package.json's allowScripts: the CPU image downloads nothing beyond the npm packages.
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The server and the CLI, compiled; the dashboard is plain files.
RUN npm run build && cp -r src/ui dist/ui
COPY deploy/prune-node-modules.sh ./deploy/
RUN npm prune --omit=dev && sh deploy/prune-node-modules.sh node_modules

# The CUDA provider libraries, by onnxruntime-node's own install mechanism (from NuGet).
FROM build AS build-cuda
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# Only a source of the node binary for the CUDA image.
FROM ${NODE_IMAGE} AS node

FROM ${CUDA_IMAGE} AS cuda
# Node 20 from the official image (the CUDA base has none); npm is not needed at run time.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# The base image's `ubuntu` user holds uid 1000; calserve runs as 1000 (as in deploy/k8s).
RUN (userdel -r ubuntu 2>/dev/null || true) \
 && groupadd --gid 1000 calserve && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin calserve
WORKDIR /app
ENV NODE_ENV=production \
    CALSERVE_HOST=0.0.0.0 \
    CALSERVE_PORT=8080 \
    CALSERVE_MODEL_REPOSITORY=/app/models \
    CALSERVE_STORE_URL=sqlite:/data/calserve.db \
    CALSERVE_EXECUTION_PROVIDERS=cuda,cpu
COPY --from=build-cuda /app/node_modules ./node_modules
COPY --from=build-cuda /app/dist ./dist
COPY package.json ./
COPY models ./models
# The gRPC service definition, loaded at run time by dist/grpc/proto.js.
COPY proto ./proto
RUN printf '#!/bin/sh\nexec node /app/dist/cli/index.js "$@"\n' > /usr/local/bin/calserve && chmod 755 /usr/local/bin/calserve \
 && mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
VOLUME ["/data"]
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:8080/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["calserve", "serve"]

# The default target: CPU.
FROM ${NODE_IMAGE} AS cpu
WORKDIR /app
ENV NODE_ENV=production \
    CALSERVE_HOST=0.0.0.0 \
    CALSERVE_PORT=8080 \
    CALSERVE_MODEL_REPOSITORY=/app/models \
    CALSERVE_STORE_URL=sqlite:/data/calserve.db
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY models ./models
# The gRPC service definition, loaded at run time by dist/grpc/proto.js.
COPY proto ./proto
RUN printf '#!/bin/sh\nexec node /app/dist/cli/index.js "$@"\n' > /usr/local/bin/calserve && chmod 755 /usr/local/bin/calserve \
 && mkdir -p /data && chown node:node /data
# The official image's `node` user: uid 1000, as deploy/k8s runs it.
USER node
VOLUME ["/data"]
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:8080/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["calserve", "serve"]
