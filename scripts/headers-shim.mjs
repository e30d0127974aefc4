// Injected into the bundle in place of the global `Headers` (what @connectrpc/connect uses for gRPC metadata): on
// Node 20, touching the global loads the whole internal undici (~26 ms at start); this standard implementation is
// 10 kB. Nothing else in the bundle uses `Headers`; fetch (S3, release downloads) keeps its own.
export { Headers } from 'headers-polyfill';
