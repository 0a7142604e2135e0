// CSS imported for its side effect: esbuild (web/build.mjs) bundles it into assets/main.<hash>.css.
declare module '*.css';
