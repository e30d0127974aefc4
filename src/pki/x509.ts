/**
 * The one entry to @peculiar/x509: it uses tsyringe, which refuses to load without a Reflect metadata polyfill, so
 * `reflect-metadata` must run before the library loads (ES modules evaluate imports in order) and every PKI module
 * imports the library from here, never directly. The lite build: Node has Map/Set/WeakMap, no polyfills needed.
 */
import 'reflect-metadata/lite';

export * from '@peculiar/x509';
