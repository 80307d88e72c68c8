// Runs once, in jest's own process, before any test: puts a fake `cargo` first on PATH so no
// test ever runs the real one (the constructs spawn `cargo lambda ...` themselves, and a test
// file's process.env is a copy that child processes do not see). The fake answers
// `cargo lambda --version`, and for `cargo lambda build --lambda-dir D ...` writes D/bootstrap;
// every call is appended to $NOTIFY_FAKE_CARGO_LOG.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export default function globalSetup(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-fake-cargo-'));
  const log = path.join(dir, 'cargo.log');
  fs.writeFileSync(
    path.join(dir, 'cargo'),
    `#!/bin/sh
echo "$*" >> "${log}"
if [ "$1 $2" = "lambda build" ]; then
  out=""; prev=""
  for a in "$@"; do [ "$prev" = "--lambda-dir" ] && out="$a"; prev="$a"; done
  mkdir -p "$out" && echo fake > "$out/bootstrap"
fi
exit 0
`,
    { mode: 0o755 },
  );
  fs.writeFileSync(log, '');
  process.env.PATH = `${dir}${path.delimiter}${process.env.PATH}`;
  process.env.NOTIFY_FAKE_CARGO_LOG = log;
}
