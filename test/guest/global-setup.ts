/**
 * One shared guest for the guest tests that do not kexec (they call
 * `inject('sharedGuest')`); kexec tests boot their own with bootGuest().
 */
import type { TestProject } from 'vitest/node';
import { bootGuest, type SharedGuestInfo } from '../helpers/guest.js';

declare module 'vitest' {
  export interface ProvidedContext {
    sharedGuest: SharedGuestInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { guest, bootToSshMs } = await bootGuest((line) => console.log(`[guest] ${line}`));
  project.provide('sharedGuest', { image: guest.image, port: guest.port, accel: guest.accel, dir: guest.dir, bootToSshMs });
  return async () => guest.shutdown();
}
