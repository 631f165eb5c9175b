// The app is served by the backend at /app (same origin as the API): assets are built there.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // three.js is one ~700 kB chunk; the app is loaded once per working session
    chunkSizeWarningLimit: 1000,
  },
});
