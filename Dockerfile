# syntax=docker/dockerfile:1
# Build stage: full install, compile TypeScript.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The Claude Code CLI is a test-only dev dependency with a large native binary; skip optional native packages here.
RUN npm ci --omit=optional --ignore-scripts
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npx nest build

# Runtime stage: production dependencies only, non-root, listening on all interfaces.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=9090
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY providers.example.yaml ./
RUN mkdir -p /app/config /app/logs /app/data && chown -R node:node /app/config /app/logs /app/data
USER node
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||9090)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Looks for /app/config/providers.yaml (mount it) unless BALANCER_CONFIG or --config says otherwise.
# The same command as npm start: a 2 GB heap ceiling keeps V8 from growing its heap to four times what is live after
# a collection, as it does by default on a host with memory to spare (RSS then swings by 50 MB under load).
CMD ["node", "--max-old-space-size=2048", "dist/main.js"]
