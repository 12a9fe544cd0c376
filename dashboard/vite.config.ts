import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * `npm run build:dashboard`: builds the dashboard into dashboard/dist, which Forge serves
 * (src/ops/dashboard.ts). Hashed file names under /assets/ let Forge cache them for a year;
 * index.html is the only file served fresh. Nothing is loaded from elsewhere at run time.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  plugins: [react()],
  // Node's `process.env.NODE_ENV` checks in urql and React: a production build drops their dev warnings.
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // One bundle of ~100 kB gzip; a warning for it helps nobody.
    chunkSizeWarningLimit: 1024,
  },
  logLevel: "warn",
});
