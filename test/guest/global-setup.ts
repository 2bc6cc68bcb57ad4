/**
 * vitest globalSetup of the guest project: one shared guest per
 * `vitest run --project guest`, for the tests that do not kexec. A test file
 * reaches it with `connectGuest(inject('guest'))`; a kexec test boots its own
 * with bootGuest(). The guest is stopped when the run ends, and on any exit
 * path of this process (test/helpers/vm-cleanup.ts).
 */
import type { TestProject } from 'vitest/node';
import type { SharedGuestInfo } from '../helpers/guest.js';
import { bootGuest, type Vm } from '../helpers/vm-boot.js';
import type { VmConnection } from '../helpers/vm-ssh.js';

declare module 'vitest' {
  export interface ProvidedContext {
    guest: VmConnection;
    /** The same guest in the shape test/helpers/guest.ts's Guest.attach() takes. */
    sharedGuest: SharedGuestInfo;
  }
}

function sharedGuestInfo(vm: Vm): SharedGuestInfo {
  const { image, connection: c } = vm;
  return {
    image: { dir: image.dir, disk: image.disk, kernel: image.kernel, initrd: image.initrd, key: image.key, builtInS: image.built ? image.buildSeconds : undefined },
    port: c.port, accel: c.accel, dir: c.dir, bootToSshMs: vm.bootToSshMs,
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const vm = await bootGuest({ log: (line) => console.log(`[shared guest] ${line}`) });
  project.provide('guest', vm.connection);
  project.provide('sharedGuest', sharedGuestInfo(vm));
  return () => vm.stop();
}
