/**
 * Where a guest run's time goes, for the CI log: after each guest file, its
 * time, the part spent before its first test (the image, the guest's boot or
 * load, the install) and each test's; at the end, every guest file's time.
 * Beside vitest's own reporter, which says what passed.
 */
import type { Reporter, TestModule } from 'vitest/node';

const GUEST_PROJECTS = new Set(['guest', 'slow']);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1).padStart(7)} s`;

interface FileTime {
  file: string;
  ms: number;
}

export default class GuestTimeReporter implements Reporter {
  private readonly files: FileTime[] = [];

  onTestModuleEnd(module: TestModule): void {
    if (!GUEST_PROJECTS.has(module.project.name)) return;
    const ms = module.diagnostic().duration;
    const tests = [...module.children.allTests()].map((test) => ({
      name: test.name,
      ms: test.diagnostic()?.duration ?? 0,
    }));
    const inTests = tests.reduce((sum, test) => sum + test.ms, 0);
    this.files.push({ file: module.relativeModuleId, ms });
    const lines = [
      `[time] ${module.relativeModuleId}: ${seconds(ms).trim()}`,
      `[time]   ${seconds(ms - inTests)}  hooks: the guest's boot or load and install, its stop`,
      ...tests.map((test) => `[time]   ${seconds(test.ms)}  ${test.name}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  onTestRunEnd(): void {
    if (this.files.length === 0) return;
    const total = this.files.reduce((sum, file) => sum + file.ms, 0);
    const lines = [
      '[time] guest files:',
      ...this.files.map((file) => `[time]   ${seconds(file.ms)}  ${file.file}`),
      `[time]   ${seconds(total)}  in all`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
