import { defineConfig } from "vitest/config";

export default defineConfig({
  // generous per-test timeout: jsdom + vega mounting is CPU-bound and CI runners are small
  test: { environment: "jsdom", include: ["test/**/*.test.js"], testTimeout: 30000 },
});
