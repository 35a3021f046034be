/**
 * The running pbxctl's own package name and version, read once from its package.json (two levels
 * above dist/lib/ or src/lib/), for what pbxctl writes that must name the version that wrote it:
 * the CI pipelines `init` scaffolds pin it, so a pipeline runs the pbxctl its repo was made with.
 */
import { readFileSync } from 'node:fs';

interface PackageJson {
  name: string;
  version: string;
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as PackageJson;

/** The package's name (`pbxctl`). */
export const PACKAGE_NAME: string = pkg.name;
/** The package's semver version, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = pkg.version;
/** An npm install spec for exactly this version: `pbxctl@0.1.0`. */
export const PACKAGE_SPEC = `${PACKAGE_NAME}@${PACKAGE_VERSION}`;
