/**
 * The package version (for `--version` and the diagnosis report). A module of its own: the CLI
 * must not load the engine just to print a version.
 */
import { createRequire } from 'node:module';

export function toolVersion(): string {
  try {
    // dist/src/version.js → the package root.
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
