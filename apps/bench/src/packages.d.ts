// Fallback types for the kernel packages while their dist/ is not built yet (they are developed in parallel): when
// a package's own .d.ts resolves, TypeScript uses it; otherwise these untyped declarations keep the bench compiling.
// The bench checks every export at run time anyway (src/packages.ts).
declare module '@qattn/flash-int8';
declare module '@qattn/turbo-attn';
declare module '@qattn/reference';
