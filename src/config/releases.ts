// The OpenStack releases berth builds and deploys. A release decides the Debian suite its images
// come from, the default image tag, and what the catalog and templates render where services
// differ between releases (templates see `release`; image.yml has per-release packages).
import { InputError } from './errors.js';

export interface Release {
  /** What openstack_release and the default openstack_tag say: "2025.1", "zed". */
  name: string;
  /** The series name, also accepted as openstack_release ("epoxy"). */
  codename: string;
  /** Debian suite whose packages make the images. */
  debianSuite: string;
  /** Position in upstream's order: comparisons ("at least 2025.1") use it, never the name. */
  order: number;
}

export const releases: readonly Release[] = [
  { name: 'zed', codename: 'zed', debianSuite: 'bookworm', order: 26 },
  { name: '2025.1', codename: 'epoxy', debianSuite: 'trixie', order: 31 },
];

export const defaultRelease = '2025.1';

/** The release a name or codename means, or undefined. */
export function findRelease(value: string): Release | undefined {
  const v = value.trim().toLowerCase();
  return releases.find((r) => r.name === v || r.codename === v);
}

export function knownReleases(): string {
  return releases.map((r) => (r.codename === r.name ? r.name : `${r.name} (${r.codename})`)).join(', ');
}

export function releaseNamed(value: string): Release {
  const release = findRelease(value);
  if (!release) throw new InputError(`unknown OpenStack release "${value}"`, `berth knows ${knownReleases()}`);
  return release;
}

/** Whether `release` is `name` or later, by upstream order. */
export function releaseAtLeast(release: Release, name: string): boolean {
  return release.order >= releaseNamed(name).order;
}

/** What templates receive as `release`: the name, the suite, and comparisons by upstream order. */
export function releaseContext(release: Release): {
  name: string;
  codename: string;
  debian_suite: string;
  at_least: (name: string) => boolean;
  before: (name: string) => boolean;
} {
  return {
    name: release.name,
    codename: release.codename,
    debian_suite: release.debianSuite,
    at_least: (name) => releaseAtLeast(release, name),
    before: (name) => !releaseAtLeast(release, name),
  };
}
