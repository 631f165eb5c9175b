// The app is served by the backend at /app (same origin as the API): assets are built there.
// Two pages: the labelling tool (index.html) and the dashboards (dashboard.html).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/app/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // three.js is one ~700 kB chunk; the app is loaded once per working session
    chunkSizeWarningLimit: 1000,
    rollupOptions: { input: { main: "index.html", dashboard: "dashboard.html" } },
  },
});
