/**
 * The package version for `--version`, read here rather than from diagnose/diagnose.js: importing
 * that module would load the whole engine (and its XML parser) just to print a version.
 */
import { createRequire } from 'node:module';

export function toolVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (req('../../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
