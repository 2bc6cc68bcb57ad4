/**
 * Everything under the state dir is owner-only: images hold the session's memory,
 * logs its commands. A umask of 077 covers what kernel-leap writes and what its
 * children (criu above all) create there; the few files meant for others, the
 * installed units and hook, get their mode set explicitly.
 */
export const OWNER_ONLY_UMASK = 0o077;

export function createOwnerOnly(): void {
  process.umask(OWNER_ONLY_UMASK);
}
