# Minimal image running the whole cluster with `pnpm start` (the per-service production images
# with a compiled build come with the containers issue).
FROM node:24-slim
ENV PNPM_HOME=/usr/local/pnpm PATH=/usr/local/pnpm:$PATH CI=true
RUN npm install -g pnpm@12.4.2
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages ./packages
COPY services ./services
COPY scripts ./scripts
COPY tsconfig.base.json tsconfig.json ./
RUN pnpm install --frozen-lockfile && chown -R node:node /app
USER node
# exec form: signals reach the supervisor, which forwards SIGTERM to each service.
CMD ["node", "scripts/start.ts"]
