/**
 * The restore script's record (src/state/restore-record.ts), as Node reads it
 * after each run of the script: typed by its schema, a wrong field an error that
 * names the record and the field, and another boot's record none at all.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  BOOT_SCRIPT,
  NODE_SCRIPT,
  parseRestoreRecord,
  readRestoreRecord,
} from '../../../src/state/restore-record.js';

const RESTORED = [
  'boot=b1',
  'mark.restoreUnitStart=1700000000000',
  'mark.gate.devpts=1700000000100',
  'socketDir=2',
  'socketDir=0',
  'mark.restoreStart=1700000000200',
  'launcher=4242',
  'mark.restored=1700000001000',
  'outcome=restored',
  '',
].join('\n');

describe('the restore record', () => {
  it('reads marks as instants, the launcher and the socket directories made by index', () => {
    const record = parseRestoreRecord(RESTORED, '/run/r1/fast-restore');
    expect(record).toMatchObject({ boot: 'b1', outcome: 'restored', launcher: 4242 });
    expect(record.socketDirs).toEqual([2, 0]);
    expect([...record.marks.keys()]).toEqual([
      'restoreUnitStart',
      'gate.devpts',
      'restoreStart',
      'restored',
    ]);
    expect(record.marks.get('restored')?.getTime()).toBe(1700000001000);
    expect(record.gaveUp).toBeUndefined();
  });

  it('reads where it gave up: a FIFO by its index, and why', () => {
    const record = parseRestoreRecord('boot=b1\ngaveUp=fifo\nitem=3\nwhy=unsafe\n', 'r');
    expect(record).toMatchObject({ gaveUp: 'fifo', item: 3, why: 'unsafe' });
    expect(record.outcome).toBeUndefined();
  });

  it('reads a file held by path that it refused, by its index, and why', () => {
    expect(parseRestoreRecord('boot=b1\ngaveUp=file\nitem=2\nwhy=changed\n', 'r')).toMatchObject({
      gaveUp: 'file',
      item: 2,
      why: 'changed',
    });
  });

  it('reads what became of each early address, by its index in the manifest', () => {
    expect(parseRestoreRecord('boot=b1\nearly.0=up\nearly.1=taken\n', 'r').early).toEqual({
      0: 'up',
      1: 'taken',
    });
    expect(parseRestoreRecord('boot=b1\n', 'r').early).toEqual({});
  });

  it.each([
    ['an early address in no known state', 'boot=b1\nearly.0=borrowed\n', /wrong field: early\.0/],
    ['an unknown reason', 'boot=b1\ngaveUp=tired\n', /fast-restore has a wrong field: gaveUp/],
    ['a launcher that is no pid', 'boot=b1\nlauncher=12ab\n', /wrong field: launcher/],
    ['a mark that is no instant', 'boot=b1\nmark.restored=soon\n', /wrong field: marks\.restored/],
    ['an unknown key', 'boot=b1\npath=/etc/x\n', /wrong field: .*path/],
    ['no boot', 'outcome=restored\n', /wrong field: boot/],
  ])('refuses %s, naming the record and the field', (_what, text, message) => {
    expect(() => parseRestoreRecord(text, '/run/r1/fast-restore')).toThrowError(
      expect.objectContaining({
        code: 'RESTORE_RECORD_INVALID',
        message: expect.stringMatching(message),
      }),
    );
  });

  it("is this boot's only: another boot's record, or none, reads as none", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kl-record-'));
    expect(readRestoreRecord(dir, BOOT_SCRIPT, 'b1')).toBeUndefined();
    writeFileSync(join(dir, BOOT_SCRIPT.record), RESTORED);
    expect(readRestoreRecord(dir, BOOT_SCRIPT, 'b2')).toBeUndefined();
    expect(readRestoreRecord(dir, BOOT_SCRIPT, 'b1')?.launcher).toBe(4242);
    // Node's own run leaves its record beside the boot's, which it does not overwrite.
    expect(readRestoreRecord(dir, NODE_SCRIPT, 'b1')).toBeUndefined();
  });
});
