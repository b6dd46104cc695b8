import { defineConfig } from 'vite';

// The page imports the @qattn packages by name, as an app using them from npm would: Vite resolves their `browser`
// export conditions (no CUDA loader, no Node built-ins) from the workspace's built dist/.
export default defineConfig({
  build: {
    outDir: 'dist',
    // Every WebGPU browser runs ES2022, which the packages' private class fields need untranspiled.
    target: 'es2022',
    sourcemap: true,
  },
});
