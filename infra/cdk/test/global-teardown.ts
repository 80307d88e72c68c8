// Removes the fake `cargo` of test/global-setup.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';

export default function globalTeardown(): void {
  const log = process.env.NOTIFY_FAKE_CARGO_LOG;
  if (log) fs.rmSync(path.dirname(log), { recursive: true, force: true });
}
