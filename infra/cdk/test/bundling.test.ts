// `cdk deploy` keeps building the functions: without the skip, each RustFunction runs
// `cargo lambda build --release --arm64 --bin <binary>` on the workspace. A fake `cargo` stands
// in for the real one (test/global-setup.ts: nothing is compiled).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import { FUNCTIONS, MANIFEST_PATH, NotifyStack } from '../lib/notify-stack';
import { cargoCalls } from './helpers';

test('deploy-time bundling builds each binary for arm64 from the workspace manifest', () => {
  expect(fs.existsSync(MANIFEST_PATH)).toBe(true);
  expect(fs.readFileSync(MANIFEST_PATH, 'utf8')).toContain('[workspace]');

  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-cdk-out-'));
  try {
    const app = new cdk.App({ analyticsReporting: false, outdir });
    new NotifyStack(app, 'Notify');
    const assembly = app.synth();
    const builds = cargoCalls().filter((l) => l.startsWith('lambda build') && l.includes(outdir));
    expect(builds).toHaveLength(Object.keys(FUNCTIONS).length);
    for (const { binary } of Object.values(FUNCTIONS)) {
      const build = builds.find((l) => l.includes(`--bin ${binary} `));
      expect(build).toBeDefined();
      expect(build).toMatch(new RegExp(`--release --arm64 --bin ${binary} --flatten ${binary}$`));
    }
    // Each function's asset is the bundled output (the bootstrap), not the workspace.
    const stack = assembly.getStackByName('Notify');
    for (const key of Object.keys(FUNCTIONS)) {
      const s3Key: string = stack.template.Resources[`${key}Function`].Properties.Code.S3Key;
      const staged = path.join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
      expect(fs.readdirSync(staged)).toEqual(['bootstrap']);
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});
