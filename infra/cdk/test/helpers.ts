// Shared by the tests: synthesise the stack without building Rust, and read the template.
import * as fs from 'node:fs';
import * as cdk from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { NotifyStack } from '../lib/notify-stack';

/** The calls made to the fake `cargo` of test/global-setup.ts so far. */
export function cargoCalls(): string[] {
  const log = process.env.NOTIFY_FAKE_CARGO_LOG;
  if (!log) throw new Error('NOTIFY_FAKE_CARGO_LOG unset: run the tests with jest (test/global-setup.ts)');
  return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

/** The stack as `cdk synth` with NOTIFY_CDK_SKIP_BUNDLING=1 makes it (no bundling at all). */
export function synthStack(mutate?: (stack: NotifyStack) => void): { stack: NotifyStack; template: Template } {
  const app = new cdk.App({ analyticsReporting: false, context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new NotifyStack(app, 'Notify');
  mutate?.(stack);
  return { stack, template: Template.fromStack(stack) };
}

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A string-valued template expression as one string: `${X}` for Ref X, `${X.Y}` for GetAtt. */
export function flatten(v: Json): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object') {
    if ('Ref' in v) return '${' + v.Ref + '}';
    if ('Fn::GetAtt' in v) return '${' + v['Fn::GetAtt'].join('.') + '}';
    if ('Fn::Sub' in v && typeof v['Fn::Sub'] === 'string') return v['Fn::Sub'];
    if ('Fn::Join' in v) return v['Fn::Join'][1].map(flatten).join(v['Fn::Join'][0]);
  }
  return JSON.stringify(v);
}

/** Every (action, resource) pair the inline policies of a role grant, resources flattened. */
export function grants(template: Json, roleId: string): Array<{ action: string; resource: string }> {
  const role = template.Resources[roleId];
  if (!role) throw new Error(`no resource ${roleId}`);
  const out: Array<{ action: string; resource: string }> = [];
  for (const policy of role.Properties.Policies ?? []) {
    for (const s of policy.PolicyDocument.Statement) {
      if (s.Effect !== 'Allow' || s.NotAction || s.NotResource || s.Condition) {
        throw new Error(`${roleId}: unexpected statement ${JSON.stringify(s)}`);
      }
      const actions: string[] = [].concat(s.Action);
      const resources: Json[] = [].concat(s.Resource);
      for (const action of actions) for (const resource of resources) out.push({ action, resource: flatten(resource) });
    }
  }
  return out;
}
