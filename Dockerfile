# calserve: multi-stage build, non-root runtime, CPU by default.
# CUDA build:  docker build --build-arg ORT_INSTALL=cuda12 --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 .
# (the CUDA base must provide Node 20; with the default base, onnxruntime runs on CPU).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles its native addon when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# "skip" keeps onnxruntime-node from downloading CUDA libraries; "cuda12" fetches them.
ARG ORT_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --onnxruntime-node-install=${ORT_INSTALL}
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && if [ -d src/ui ]; then cp -r src/ui dist/ui; fi
RUN npm prune --omit=dev

FROM ${NODE_IMAGE}
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
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:8080/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/main.js"]
