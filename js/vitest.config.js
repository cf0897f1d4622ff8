import { defineConfig } from "vitest/config";

export default defineConfig({
  // a shared 2-core machine can take seconds to mount vega in jsdom: tests assert behaviour, never timing
  test: { environment: "jsdom", include: ["test/**/*.test.js"], testTimeout: 30000 },
});
