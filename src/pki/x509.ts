/**
 * The one entry to @peculiar/x509: the Reflect metadata shim must run before the library loads (ES modules evaluate
 * imports in order), so every PKI module imports the library from here, never directly.
 */
import './reflect-metadata.js';

export * from '@peculiar/x509';
