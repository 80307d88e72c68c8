// The Notify stack against /tmp/iac-spec.md's rules: queues and redrive, mappings, table,
// alarms, least-privilege IAM, functions, parameters, dashboard. Synthesised without bundling.
import { Template } from 'aws-cdk-lib/assertions';
import * as cdk from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  CHANNELS,
  FUNCTIONS,
  FunctionKey,
  LISTING_INDEXES,
  PRIORITIES,
  SMS_DELIVERY_STATUS_LOGGING_CODE,
  WEBSOCKET_MESSAGE_ROUTES,
  dlqId,
  mappingId,
  queueId,
  workerKey,
} from '../lib/notify-stack';
import { Json, cargoCalls, flatten, grants, synthStack } from './helpers';

let template: Template;
let t: Json;
let callsDuringSynth: string[];

beforeAll(() => {
  const before = cargoCalls().length;
  template = synthStack().template;
  t = template.toJSON();
  callsDuringSynth = cargoCalls().slice(before);
});

const pairs = CHANNELS.flatMap((c) => PRIORITIES.map((p) => ({ c, p })));
const ofType = (type: string): Record<string, Json> =>
  Object.fromEntries(Object.entries(t.Resources).filter(([, r]) => (r as Json).Type === type)) as Record<string, Json>;
const workerTimeout = (): number =>
  Math.max(...(['EmailWorker', 'SmsWorker', 'PushWorker'] as FunctionKey[]).map((k) => t.Resources[`${k}Function`].Properties.Timeout));

describe('synthesis', () => {
  test('never runs cargo lambda build (bundling skipped)', () => {
    expect(callsDuringSynth.filter((l) => l.includes('build'))).toEqual([]);
    // The code asset is left unbundled: the workspace itself, never staged or built.
    for (const k of Object.keys(FUNCTIONS)) {
      expect(t.Resources[`${k}Function`].Properties.Code.S3Key).toMatch(/\.zip$/);
    }
  });

  test('no CDK-generated IAM policies or extra roles', () => {
    template.resourceCountIs('AWS::IAM::Policy', 0);
    expect(Object.keys(ofType('AWS::IAM::Role')).sort()).toEqual(
      [...Object.keys(FUNCTIONS).map((k) => `${k}Role`), 'SmsDeliveryStatusRole', 'SmsDeliveryStatusLoggingRole'].sort(),
    );
  });
});

describe('logical IDs', () => {
  // Spelled out, not taken from the stack's helpers: a refactor of the loops that renamed a
  // resource would make CloudFormation replace it (queues with their messages, alarms, roles).
  const perChannel = (c: string) => [
    `${c}WorkerRole`,
    `${c}WorkerFunction`,
    `${c}WorkerFunctionLogGroup`,
    `${c}WorkerErrorRateAlarm`,
    ...['High', 'Normal', 'Low'].flatMap((p) => [
      `${c}${p}Queue`,
      `${c}${p}DeadLetterQueue`,
      `${c}Worker${p}Mapping`,
      `${c}${p}DeadLetterQueueAlarm`,
      `${c}${p}QueueAgeAlarm`,
    ]),
  ];
  const deployedChannels = ['Email', 'Sms', 'Push'];
  const others = [
    'NotificationsTable', 'ApiRole', 'ApiFunction', 'ApiFunctionLogGroup', 'CleanupRole', 'CleanupFunction',
    'CleanupFunctionLogGroup', 'HttpApi', 'HttpApiIntegration', 'HttpApiDefaultRoute', 'HttpApiAccessLogs',
    'HttpApiStage', 'ApiFunctionInvokePermission', 'CleanupSweepSchedule', 'CleanupSweepPermission',
    'CleanupPurgeSchedule', 'CleanupPurgePermission', 'EmailConfigurationSet', 'FcmCredentialsSecret', 'AlarmTopic',
    'AlarmTopicEmailSubscription', 'ApiServerErrorRateAlarm', 'SesBounceRateAlarm', 'Dashboard',
    // SES's events and the function that records them.
    'EmailConfigurationSetEventDestination', 'SesEventsTopic', 'SesEventsTopicPolicy', 'SesEventsSubscription',
    'EventsQueue', 'EventsDeadLetterQueue', 'EventsQueuePolicy', 'EventsRole', 'EventsFunction',
    'EventsFunctionLogGroup', 'EventsMapping', 'EventsDeadLetterAlarm', 'EventsErrorRateAlarm', 'EventsInvokeConfig',
    // SNS's SMS delivery statuses: its log groups and role, the custom resource that turns the
    // logging on, the subscriptions that feed the events function.
    'SmsDeliveryStatusLogGroup', 'SmsDeliveryStatusFailureLogGroup', 'SmsDeliveryStatusRole',
    'SmsDeliveryStatusLoggingRole', 'SmsDeliveryStatusLoggingFunctionLogGroup', 'SmsDeliveryStatusLoggingFunction',
    'SmsDeliveryStatusLogging', 'EventsLogsPermission', 'SmsDeliveryStatusSubscription',
    'SmsDeliveryStatusFailureSubscription',
    // The stats counters: the table's stream to the changes function, its DLQ and alarms.
    'ChangesRole', 'ChangesFunction', 'ChangesFunctionLogGroup', 'ChangesMapping', 'ChangesDeadLetterQueue',
    'ChangesDeadLetterAlarm', 'ChangesErrorRateAlarm', 'ChangesIteratorAgeAlarm',
    // Status callbacks: their queue and DLQ, the function that delivers them, its alarms.
    'CallbacksQueue', 'CallbacksDeadLetterQueue', 'CallbacksRole', 'CallbacksFunction', 'CallbacksFunctionLogGroup',
    'CallbacksMapping', 'CallbacksDeadLetterAlarm', 'CallbacksErrorRateAlarm',
    // The WebSocket API of users' apps and its function.
    'RealtimeRole', 'RealtimeFunction', 'RealtimeFunctionLogGroup', 'RealtimeErrorRateAlarm', 'WebSocketApi',
    'WebSocketIntegration', 'WebSocketConnectRoute', 'WebSocketDisconnectRoute', 'WebSocketDefaultRoute',
    'WebSocketDefaultRouteResponse', 'WebSocketAckRoute', 'WebSocketAckRouteResponse', 'WebSocketSeenRoute',
    'WebSocketSeenRouteResponse', 'WebSocketReadRoute', 'WebSocketReadRouteResponse', 'WebSocketPingRoute',
    'WebSocketPingRouteResponse', 'WebSocketStage', 'RealtimeFunctionInvokePermission',
  ];

  test('every resource keeps the logical ID it is deployed under; a new channel only adds its own', () => {
    const added = CHANNELS.map((c) => c.id as string).filter((c) => !deployedChannels.includes(c));
    expect(Object.keys(t.Resources).sort()).toEqual(
      [...others, ...deployedChannels.flatMap(perChannel), ...added.flatMap(perChannel)].sort(),
    );
  });

  test('six channels: 18 queues + 18 DLQs, 18 mappings, 6 workers among the 12 Rust functions, their 42 alarms', () => {
    expect(CHANNELS.map((c) => c.id)).toEqual(['Email', 'Sms', 'Push', 'Webhook', 'InApp', 'Chat']);
    // And the events pair, the changes DLQ, the callbacks pair.
    template.resourceCountIs('AWS::SQS::Queue', 18 + 18 + 5);
    // And the events, changes and callbacks mappings.
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 18 + 3);
    expect(Object.keys(FUNCTIONS)).toHaveLength(12);
    // And SmsDeliveryStatusLoggingFunction (inline Python).
    template.resourceCountIs('AWS::Lambda::Function', 12 + 1);
    // Per queue a DLQ and an age alarm, per worker an error rate; and the 10 of the rest.
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2 * 18 + 6 + 10);
  });
});

describe('queues', () => {
  test('a queue and a dead-letter queue per channel and priority, with the spec logical IDs (and the events pair, the changes DLQ, the callbacks pair)', () => {
    template.resourceCountIs('AWS::SQS::Queue', 2 * pairs.length + 5);
    for (const { c, p } of pairs) {
      expect(t.Resources[queueId(c, p)]?.Type).toBe('AWS::SQS::Queue');
      expect(t.Resources[dlqId(c, p)]?.Type).toBe('AWS::SQS::Queue');
    }
  });

  test('each queue redrives to its own DLQ after MaxReceives receives', () => {
    for (const { c, p } of pairs) {
      expect(t.Resources[queueId(c, p)].Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(c, p), 'Arn'] },
        maxReceiveCount: { Ref: 'MaxReceives' },
      });
    }
  });

  test('visibility timeout at least 6 x the worker timeout; retention; SSE', () => {
    const minimum = 6 * workerTimeout();
    for (const { c, p } of pairs) {
      const q = t.Resources[queueId(c, p)].Properties;
      expect(q.VisibilityTimeout).toBeGreaterThanOrEqual(minimum);
      expect(q.MessageRetentionPeriod).toBe(345600);
      expect(q.SqsManagedSseEnabled).toBe(true);
      const d = t.Resources[dlqId(c, p)].Properties;
      expect(d).toEqual({ MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
    }
  });

  test('MaxReceives parameter: default 5, between 2 and 20, and the workers know it', () => {
    expect(t.Parameters.MaxReceives).toMatchObject({ Type: 'Number', Default: 5, MinValue: 2, MaxValue: 20 });
    for (const k of CHANNELS.map(workerKey)) {
      expect(t.Resources[`${k}Function`].Properties.Environment.Variables.NOTIFY_MAX_RECEIVES).toEqual({
        Ref: 'MaxReceives',
      });
    }
  });
});

describe('event source mappings', () => {
  test('one mapping per queue, to the worker of its channel, with partial batch responses', () => {
    // And EventsMapping, ChangesMapping (the table's stream), CallbacksMapping.
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', pairs.length + 3);
    for (const { c, p } of pairs) {
      expect(t.Resources[mappingId(c, p)]).toEqual({
        Type: 'AWS::Lambda::EventSourceMapping',
        Properties: {
          EventSourceArn: { 'Fn::GetAtt': [queueId(c, p), 'Arn'] },
          FunctionName: { Ref: `${c.id}WorkerFunction` },
          BatchSize: 10,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          MaximumBatchingWindowInSeconds: p.batchingWindow,
          ScalingConfig: { MaximumConcurrency: p.maxConcurrency },
        },
      });
    }
  });

  test('per priority: window 0/1/5 s, concurrency 50/20/5', () => {
    const byPriority = (id: string) => PRIORITIES.find((p) => p.id === id)!;
    expect(byPriority('High')).toMatchObject({ batchingWindow: 0, maxConcurrency: 50 });
    expect(byPriority('Normal')).toMatchObject({ batchingWindow: 1, maxConcurrency: 20 });
    expect(byPriority('Low')).toMatchObject({ batchingWindow: 5, maxConcurrency: 5 });
    expect(t.Resources.SmsWorkerLowMapping.Properties.ScalingConfig.MaximumConcurrency).toBe(5);
    expect(t.Resources.PushWorkerHighMapping.Properties.MaximumBatchingWindowInSeconds).toBe(0);
  });
});

/** Throws unless GSI4 finds a notification by its provider's message id: GSI4PK/GSI4SK, keys only. */
export function assertProviderIndex(tmpl: Json): void {
  const table = tmpl.Resources.NotificationsTable.Properties;
  const gsi4 = table.GlobalSecondaryIndexes.filter((i: Json) => i.IndexName === 'GSI4');
  expect(gsi4).toEqual([
    {
      IndexName: 'GSI4',
      KeySchema: [
        { AttributeName: 'GSI4PK', KeyType: 'HASH' },
        { AttributeName: 'GSI4SK', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
  ]);
  for (const name of ['GSI4PK', 'GSI4SK']) {
    expect(table.AttributeDefinitions).toContainEqual({ AttributeName: name, AttributeType: 'S' });
  }
}

/**
 * Throws unless GSI5 (a tenant's notifications, sharded), GSI6 (by recipient) and GSI7 (by client
 * reference) are as local/src/resources.rs creates them: GSIxPK and `id` (both S), keys only.
 */
export function assertListingIndexes(tmpl: Json): void {
  const table = tmpl.Resources.NotificationsTable.Properties;
  expect([...LISTING_INDEXES]).toEqual(['GSI5', 'GSI6', 'GSI7']);
  for (const name of LISTING_INDEXES) {
    expect(table.GlobalSecondaryIndexes.filter((i: Json) => i.IndexName === name)).toEqual([
      {
        IndexName: name,
        KeySchema: [
          { AttributeName: `${name}PK`, KeyType: 'HASH' },
          { AttributeName: 'id', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ]);
    expect(table.AttributeDefinitions.filter((a: Json) => a.AttributeName === `${name}PK`)).toEqual([
      { AttributeName: `${name}PK`, AttributeType: 'S' },
    ]);
  }
  expect(table.AttributeDefinitions.filter((a: Json) => a.AttributeName === 'id')).toEqual([
    { AttributeName: 'id', AttributeType: 'S' },
  ]);
}

describe('table', () => {
  test('GSI4: a notification by its provider message id, keys only', () => {
    assertProviderIndex(t);
  });

  test('GSI5, GSI6, GSI7 (GET /v1/notifications): GSIxPK and the record id as sort key, keys only', () => {
    assertListingIndexes(t);
  });

  test('the listing index checks fail on a drifted index (they can fail)', () => {
    const drifted = (override: (table: dynamodb.CfnTable) => void) =>
      synthStack((stack) => override(stack.node.findChild('NotificationsTable') as dynamodb.CfnTable)).template.toJSON();
    const indexOf = (name: string) =>
      t.Resources.NotificationsTable.Properties.GlobalSecondaryIndexes.findIndex((i: Json) => i.IndexName === name);
    const attrOf = (name: string) =>
      t.Resources.NotificationsTable.Properties.AttributeDefinitions.findIndex((a: Json) => a.AttributeName === name);
    for (const tmpl of [
      // All attributes projected rather than the keys.
      drifted((table) => table.addPropertyOverride(`GlobalSecondaryIndexes.${indexOf('GSI5')}.Projection.ProjectionType`, 'ALL')),
      // Sorted by something else than the id.
      drifted((table) =>
        table.addPropertyOverride(`GlobalSecondaryIndexes.${indexOf('GSI6')}.KeySchema.1.AttributeName`, 'GSI6SK'),
      ),
      // An index renamed away.
      drifted((table) => table.addPropertyOverride(`GlobalSecondaryIndexes.${indexOf('GSI7')}.IndexName`, 'GSI8')),
      // The sort key's attribute a number.
      drifted((table) => table.addPropertyOverride(`AttributeDefinitions.${attrOf('id')}.AttributeType`, 'N')),
    ]) {
      expect(() => assertListingIndexes(tmpl)).toThrow();
    }
  });

  test('keys, attributes, GSIs, TTL, PITR, SSE, on-demand', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const table = t.Resources.NotificationsTable.Properties;
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.KeySchema).toEqual([
      { AttributeName: 'PK', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ]);
    expect(table.AttributeDefinitions).toEqual(
      [
        ...['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'GSI3PK', 'GSI3SK', 'GSI4PK', 'GSI4SK'],
        ...['GSI5PK', 'GSI6PK', 'GSI7PK', 'id'],
      ].map((n) => ({
        AttributeName: n,
        AttributeType: 'S',
      })),
    );
    for (const index of ['GSI1', 'GSI2', 'GSI4']) {
      expect(table.GlobalSecondaryIndexes).toContainEqual({
        IndexName: index,
        KeySchema: [
          { AttributeName: `${index}PK`, KeyType: 'HASH' },
          { AttributeName: `${index}SK`, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      });
    }
    expect(table.GlobalSecondaryIndexes).toContainEqual({
      IndexName: 'GSI3',
      KeySchema: [
        { AttributeName: 'GSI3PK', KeyType: 'HASH' },
        { AttributeName: 'GSI3SK', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status', 'ttl'] },
    });
    for (const index of ['GSI5', 'GSI6', 'GSI7']) {
      expect(table.GlobalSecondaryIndexes).toContainEqual({
        IndexName: index,
        KeySchema: [
          { AttributeName: `${index}PK`, KeyType: 'HASH' },
          { AttributeName: 'id', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      });
    }
    expect(table.GlobalSecondaryIndexes).toHaveLength(7);
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
    expect(t.Resources.NotificationsTable).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });
});

describe('alarms', () => {
  test('per queue a DLQ and an age alarm, per worker an error-rate alarm, API 5xx, SES bounces, the events DLQ and error rate, the changes DLQ, error rate and iterator age, the callbacks DLQ and error rate, the realtime error rate; all notify the alarm topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm');
    expect(Object.keys(alarms)).toHaveLength(2 * pairs.length + CHANNELS.length + 1 + 1 + 2 + 3 + 2 + 1);
    for (const a of Object.values(alarms)) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: 'AlarmTopic' }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: 'AlarmTopic' }]);
    }
  });

  test('a message in any DLQ alarms within a minute', () => {
    for (const { c, p } of pairs) {
      expect(t.Resources[`${c.id}${p.id}DeadLetterQueueAlarm`].Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(c, p), 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  test('queue age over QueueAgeAlarmSeconds for 5 minutes', () => {
    for (const { c, p } of pairs) {
      expect(t.Resources[`${c.id}${p.id}QueueAgeAlarm`].Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(c, p), 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        EvaluationPeriods: 5,
        Threshold: { Ref: 'QueueAgeAlarmSeconds' },
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  const mathAlarm = (id: string, namespace: string, dim: Json, numerator: string, denominator: string, threshold: number) => {
    const a = t.Resources[id].Properties;
    expect(a).toMatchObject({ EvaluationPeriods: 5, Threshold: threshold, ComparisonOperator: 'GreaterThanThreshold' });
    const stats = a.Metrics.filter((m: Json) => m.MetricStat);
    expect(stats.map((m: Json) => m.MetricStat.Metric.MetricName).sort()).toEqual([numerator, denominator].sort());
    for (const m of stats) {
      expect(m.MetricStat).toMatchObject({ Period: 60, Stat: 'Sum' });
      expect(m.MetricStat.Metric.Namespace).toBe(namespace);
      expect(m.MetricStat.Metric.Dimensions).toEqual([dim]);
      expect(m.ReturnData).toBe(false);
    }
    const expressions = a.Metrics.filter((m: Json) => m.Expression);
    expect(expressions).toHaveLength(1);
    expect(expressions[0].ReturnData).toBe(true);
    const [num, den] = [numerator, denominator].map((n) => stats.find((m: Json) => m.MetricStat.Metric.MetricName === n).Id);
    expect(expressions[0].Expression).toContain(`100 * ${num} / ${den}`);
  };

  test('worker error rate over 5 % for 5 minutes', () => {
    for (const c of CHANNELS) {
      mathAlarm(`${c.id}WorkerErrorRateAlarm`, 'AWS/Lambda', { Name: 'FunctionName', Value: { Ref: `${c.id}WorkerFunction` } }, 'Errors', 'Invocations', 5);
    }
  });

  test('events function error rate over 5 % for 5 minutes', () => {
    mathAlarm('EventsErrorRateAlarm', 'AWS/Lambda', { Name: 'FunctionName', Value: { Ref: 'EventsFunction' } }, 'Errors', 'Invocations', 5);
  });

  test('realtime function error rate over 5 % for 5 minutes', () => {
    mathAlarm('RealtimeErrorRateAlarm', 'AWS/Lambda', { Name: 'FunctionName', Value: { Ref: 'RealtimeFunction' } }, 'Errors', 'Invocations', 5);
  });

  test('a message in the events DLQ alarms within a minute', () => {
    expect(t.Resources.EventsDeadLetterAlarm.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  test('API 5xx rate over 1 % for 5 minutes', () => {
    mathAlarm('ApiServerErrorRateAlarm', 'AWS/ApiGateway', { Name: 'ApiId', Value: { Ref: 'HttpApi' } }, '5xx', 'Count', 1);
  });

  test('SES bounce rate over 5 %', () => {
    expect(t.Resources.SesBounceRateAlarm.Properties).toMatchObject({
      Namespace: 'AWS/SES',
      MetricName: 'Reputation.BounceRate',
      Statistic: 'Maximum',
      Threshold: 0.05,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });
});

// ------------------------------------------------------------------------------------ IAM

const TABLE = ['${NotificationsTable.Arn}', '${NotificationsTable.Arn}/index/*'];
const queueArns = (channel?: string) =>
  pairs.filter(({ c }) => !channel || c.id === channel).map(({ c, p }) => '${' + queueId(c, p) + '.Arn}');
const dlqArns = () => pairs.map(({ c, p }) => '${' + dlqId(c, p) + '.Arn}');
/** The WebSocket API stage's connections, as the in-app worker posts to them. */
const CONNECTIONS =
  'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*';
/** The WebSocket API stage's management endpoint (the in-app worker's NOTIFY_WEBSOCKET_ENDPOINT). */
const MANAGEMENT_ENDPOINT = 'https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}';
const cross = (actions: string[], resources: string[]) =>
  actions.flatMap((action) => resources.map((resource) => ({ action, resource })));
const sorted = (g: Array<{ action: string; resource: string }>) =>
  [...g].map((x) => `${x.action} ${x.resource}`).sort();

/** Throws unless the role grants exactly `expected` (the least privilege of the spec). */
/** The role's grants besides logging to its own log group (checked for every role above). */
export function assertExactGrants(tmpl: Json, roleId: string, expected: Array<{ action: string; resource: string }>): void {
  expect(sorted(grants(tmpl, roleId).filter((g) => !g.action.startsWith('logs:')))).toEqual(sorted(expected));
}

/** SNS's actions without a resource to scope to, and the roles that use them (with `*`). */
const UNSCOPED_SNS_ACTIONS: Record<string, RegExp> = {
  SmsWorkerRole: /^sns:(Publish|CheckIfPhoneNumberIsOptedOut)$/,
  SmsDeliveryStatusLoggingRole: /^sns:SetSMSAttributes$/,
};

/** Throws if a role or action other than those of UNSCOPED_SNS_ACTIONS uses `*`. */
export function assertNoWildcards(tmpl: Json): void {
  for (const [id, r] of Object.entries(tmpl.Resources as Record<string, Json>)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    for (const g of grants(tmpl, id)) {
      if (g.resource === '*') {
        expect(Object.keys(UNSCOPED_SNS_ACTIONS)).toContain(id);
        expect(g.action).toMatch(UNSCOPED_SNS_ACTIONS[id]);
      }
      expect(g.action).not.toContain('*');
    }
  }
}

/** Throws unless EventsRole grants exactly what the events function uses, and no SES or SNS. */
export function assertEventsRoleLeastPrivilege(tmpl: Json): void {
  assertExactGrants(tmpl, 'EventsRole', [
    ...cross(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem'], ['${NotificationsTable.Arn}']),
    // An SMS status's notification, by SNS's message id: GSI4 alone.
    ...cross(['dynamodb:Query'], ['${NotificationsTable.Arn}/index/GSI4']),
    ...cross(
      ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl'],
      ['${EventsQueue.Arn}'],
    ),
    // A too-early SMS status back onto its queue; a failed asynchronous invocation to the DLQ.
    ...cross(['sqs:SendMessage'], ['${EventsQueue.Arn}', '${EventsDeadLetterQueue.Arn}']),
  ]);
  const g = grants(tmpl, 'EventsRole');
  for (const x of g) expect(x.action).not.toMatch(/^(ses|sns|secretsmanager):/);
  expect(g.filter((x) => x.action === 'dynamodb:Query').map((x) => x.resource)).toEqual([
    '${NotificationsTable.Arn}/index/GSI4',
  ]);
}

/** Whether an IAM pattern (`*` any run of characters, `?` one) matches `value`. */
const iamMatches = (pattern: string, value: string): boolean =>
  new RegExp(
    '^' +
      pattern
        .split('')
        .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
  ).test(value);

/** Whether the role's inline policies allow `action` on `resource` (flattened, as `grants` gives). */
export function allows(tmpl: Json, roleId: string, action: string, resource: string): boolean {
  return grants(tmpl, roleId).some((g) => iamMatches(g.action, action) && iamMatches(g.resource, resource));
}

/**
 * Throws unless ApiRole can serve GET /v1/notifications: Query on the batch index (GSI3) and the
 * listing indexes (GSI5, GSI6, GSI7), BatchGetItem of the records on the table.
 */
export function assertApiCanList(tmpl: Json): void {
  for (const index of ['GSI3', ...LISTING_INDEXES]) {
    const arn = '${NotificationsTable.Arn}/index/' + index;
    expect([arn, allows(tmpl, 'ApiRole', 'dynamodb:Query', arn)]).toEqual([arn, true]);
  }
  expect(allows(tmpl, 'ApiRole', 'dynamodb:BatchGetItem', '${NotificationsTable.Arn}')).toBe(true);
}

/** Throws if the role can touch any queue or DLQ of another channel. */
export function assertChannelScoped(tmpl: Json, roleId: string, channel: string): void {
  for (const g of grants(tmpl, roleId)) {
    for (const other of CHANNELS.filter((c) => c.id !== channel)) {
      expect(g.resource.startsWith('${' + other.id)).toBe(false);
    }
    if (g.action.startsWith('sqs:')) expect(g.resource.startsWith('${' + channel)).toBe(true);
  }
}

describe('IAM (least privilege)', () => {
  const rw = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'];
  const workerSqs = [
    'sqs:ReceiveMessage',
    'sqs:DeleteMessage',
    'sqs:ChangeMessageVisibility',
    'sqs:GetQueueAttributes',
    'sqs:GetQueueUrl',
    'sqs:SendMessage',
  ];

  test('every role: assumed by Lambda only, no managed policy, logs to its own log group only', () => {
    for (const k of Object.keys(FUNCTIONS)) {
      const role = t.Resources[`${k}Role`].Properties;
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
      expect(role.ManagedPolicyArns).toBeUndefined();
      const logGrants = grants(t, `${k}Role`).filter((g) => g.action.startsWith('logs:'));
      expect(logGrants.map((g) => [g.action, g.resource]).sort()).toEqual(
        ['logs:CreateLogStream', 'logs:PutLogEvents'].map((a) => [a, flatten({ 'Fn::GetAtt': [`${k}FunctionLogGroup`, 'Arn'] })]),
      );
      expect(t.Resources[`${k}Function`].Properties.Role).toEqual({ 'Fn::GetAtt': [`${k}Role`, 'Arn'] });
    }
  });

  test('ApiRole: table (with batch writes and reads, DescribeTable), send to every queue, redrive every DLQ; no SES, SNS, secrets', () => {
    assertExactGrants(t, 'ApiRole', [
      ...cross([...rw, 'dynamodb:BatchWriteItem', 'dynamodb:BatchGetItem', 'dynamodb:DescribeTable'], TABLE),
      ...cross(['sqs:SendMessage', 'sqs:GetQueueAttributes'], queueArns()),
      ...cross(
        ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:StartMessageMoveTask', 'sqs:ListMessageMoveTasks'],
        dlqArns(),
      ),
    ]);
    for (const g of grants(t, 'ApiRole')) expect(g.action).not.toMatch(/^(ses|sns|secretsmanager):/);
  });

  test('ApiRole: Query on GSI3, GSI5, GSI6 and GSI7, BatchGetItem on the table (GET /v1/notifications)', () => {
    assertApiCanList(t);
  });

  test("ApiRole: Query on the table (the stats counters, a tenant's STATS# partition)", () => {
    expect(allows(t, 'ApiRole', 'dynamodb:Query', '${NotificationsTable.Arn}')).toBe(true);
  });

  test('the listing check fails on an ApiRole without the indexes or BatchGetItem (it can fail)', () => {
    const apiRecords = (override: Json) =>
      synthStack((stack) => {
        const role = stack.node.findChild('ApiRole') as iam.Role;
        // Statement 0 is the logs statement; 1 is the table's.
        (role.node.defaultChild as iam.CfnRole).addPropertyOverride('Policies.0.PolicyDocument.Statement.1', {
          Effect: 'Allow',
          ...override,
        });
      }).template.toJSON();
    const table = { 'Fn::GetAtt': ['NotificationsTable', 'Arn'] };
    const index = (name: string) => ({ 'Fn::Sub': '${NotificationsTable.Arn}/index/' + name });
    for (const tmpl of [
      // The table and GSI4 only.
      apiRecords({ Action: ['dynamodb:Query', 'dynamodb:BatchGetItem'], Resource: [table, index('GSI4')] }),
      // Every listing index but GSI7.
      apiRecords({
        Action: ['dynamodb:Query', 'dynamodb:BatchGetItem'],
        Resource: [table, index('GSI3'), index('GSI5'), index('GSI6')],
      }),
      // The indexes, but no BatchGetItem.
      apiRecords({ Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: [table, index('*')] }),
    ]) {
      expect(() => assertApiCanList(tmpl)).toThrow();
    }
  });

  test('EmailWorkerRole: its 3 queues, SES SendEmail on identities and the configuration set', () => {
    assertExactGrants(t, 'EmailWorkerRole', [
      ...cross(rw, TABLE),
      ...cross(workerSqs, queueArns('Email')),
      ...cross(['ses:SendEmail'], [
        'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*',
        'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}',
      ]),
    ]);
    assertChannelScoped(t, 'EmailWorkerRole', 'Email');
  });

  test('SmsWorkerRole: its 3 queues, SNS publish and opt-out check; cannot touch email or push queues', () => {
    assertExactGrants(t, 'SmsWorkerRole', [
      ...cross(rw, TABLE),
      ...cross(workerSqs, queueArns('Sms')),
      ...cross(['sns:Publish', 'sns:CheckIfPhoneNumberIsOptedOut'], ['*']),
    ]);
    assertChannelScoped(t, 'SmsWorkerRole', 'Sms');
  });

  test('PushWorkerRole: its 3 queues, the FCM secret only', () => {
    const g = grants(t, 'PushWorkerRole');
    const secret = g.filter((x) => x.action === 'secretsmanager:GetSecretValue');
    expect(secret).toHaveLength(1);
    expect(JSON.parse(secret[0].resource)).toEqual({
      'Fn::If': ['CreateFcmSecret', { Ref: 'FcmCredentialsSecret' }, { Ref: 'FcmCredentialsSecretArn' }],
    });
    assertExactGrants(t, 'PushWorkerRole', [...cross(rw, TABLE), ...cross(workerSqs, queueArns('Push')), ...secret]);
    assertChannelScoped(t, 'PushWorkerRole', 'Push');
  });

  test('InAppWorkerRole: its 3 queues, the table, POST to the WebSocket stage\'s connections only', () => {
    assertExactGrants(t, 'InAppWorkerRole', [
      ...cross(rw, TABLE),
      ...cross(workerSqs, queueArns('InApp')),
      ...cross(['execute-api:ManageConnections'], [CONNECTIONS]),
    ]);
    assertChannelScoped(t, 'InAppWorkerRole', 'InApp');
  });

  test('RealtimeRole: GetItem, PutItem, UpdateItem, DeleteItem, Query on the table only (no index, no scan, no queue)', () => {
    assertRealtimeRoleLeastPrivilege(t);
  });

  test('WebhookWorkerRole: its 3 queues and the table, no other AWS permission', () => {
    assertExactGrants(t, 'WebhookWorkerRole', [...cross(rw, TABLE), ...cross(workerSqs, queueArns('Webhook'))]);
    assertChannelScoped(t, 'WebhookWorkerRole', 'Webhook');
    expect(t.Parameters.WebhookTimeoutSeconds).toMatchObject({ Type: 'Number', Default: 15, MinValue: 1, MaxValue: 20 });
  });

  test('ChatWorkerRole: its 3 queues and the table (targets, send slots, records), no other AWS permission', () => {
    assertExactGrants(t, 'ChatWorkerRole', [...cross(rw, TABLE), ...cross(workerSqs, queueArns('Chat'))]);
    assertChannelScoped(t, 'ChatWorkerRole', 'Chat');
    // A target read, a send slot taken with a conditional update, the records.
    const g = grants(t, 'ChatWorkerRole');
    for (const action of ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:Query']) {
      expect(g).toContainEqual({ action, resource: '${NotificationsTable.Arn}' });
    }
  });

  test('CleanupRole: table (with Scan, without PutItem), send to every queue, look into every DLQ', () => {
    assertExactGrants(t, 'CleanupRole', [
      ...cross(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query', 'dynamodb:Scan'], TABLE),
      ...cross(['sqs:SendMessage'], queueArns()),
      ...cross(['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility'], dlqArns()),
    ]);
  });

  test('EventsRole: GetItem, UpdateItem, PutItem on the table, Query on GSI4 only, consume and delay EventsQueue, send to it and its DLQ; no SES, SNS, secrets', () => {
    assertEventsRoleLeastPrivilege(t);
  });

  test('CallbacksRole: GetItem, UpdateItem on the table only, consume and delay CallbacksQueue, send to its DLQ only; no SES, SNS, secrets', () => {
    assertCallbacksRoleLeastPrivilege(t);
  });

  test('no "*" resource except the SMS actions (the SMS worker\'s, the SMS attributes), no wildcard actions', () => {
    assertNoWildcards(t);
  });

  test('ChangesRole: the stream read on its ARN only, ListStreams on the table\'s streams, UpdateItem and GetItem on the table, send to its DLQ and the callbacks queue; nothing else', () => {
    assertChangesRoleLeastPrivilege(t);
  });

  test('the checks fail on a widened role (they can fail)', () => {
    const { template: widened } = synthStack((stack) => {
      const role = stack.node.findChild('SmsWorkerRole') as iam.Role;
      (role.node.defaultChild as iam.CfnRole).addPropertyOverride('Policies.0.PolicyDocument.Statement.3', {
        Effect: 'Allow',
        Action: ['sqs:SendMessage'],
        Resource: [{ 'Fn::GetAtt': ['EmailHighQueue', 'Arn'] }],
      });
    });
    const w = widened.toJSON();
    expect(() => assertChannelScoped(w, 'SmsWorkerRole', 'Sms')).toThrow();
    const { template: star } = synthStack((stack) => {
      const role = stack.node.findChild('ApiRole') as iam.Role;
      (role.node.defaultChild as iam.CfnRole).addPropertyOverride('Policies.0.PolicyDocument.Statement.3', {
        Effect: 'Allow',
        Action: ['ses:SendEmail'],
        Resource: '*',
      });
    });
    expect(() => assertNoWildcards(star.toJSON())).toThrow();
  });
});

// ------------------------------------------------------------------------------------ functions

describe('functions', () => {
  const common = ['NOTIFY_TABLE', 'NOTIFY_METRICS_NAMESPACE', 'RUST_LOG'];
  const queueVars = pairs.map(({ c, p }) => `NOTIFY_QUEUE_URL_${c.env}_${p.env}`);
  const dlqVars = pairs.map(({ c, p }) => `NOTIFY_DLQ_URL_${c.env}_${p.env}`);
  const env: Record<FunctionKey, string[]> = {
    Api: [
      ...common,
      'NOTIFY_API_KEYS',
      'NOTIFY_ADMIN_KEYS',
      'NOTIFY_RETENTION_DAYS',
      'NOTIFY_REQUESTS_PER_MINUTE',
      'NOTIFY_USER_REQUESTS_PER_MINUTE',
      'NOTIFY_DAILY_QUOTA_PER_CHANNEL',
      'NOTIFY_AUDIT_RETENTION_DAYS',
      ...queueVars,
      ...dlqVars,
    ],
    EmailWorker: [
      ...common,
      'NOTIFY_EMAIL_FROM',
      'NOTIFY_SES_CONFIGURATION_SET',
      'NOTIFY_MAX_RECEIVES',
      'NOTIFY_SEND_RATE_PER_SECOND',
    ],
    SmsWorker: [
      ...common,
      'NOTIFY_SMS_SENDER_ID',
      'NOTIFY_SMS_TYPE_NORMAL',
      'NOTIFY_MAX_RECEIVES',
      'NOTIFY_SEND_RATE_PER_SECOND',
    ],
    PushWorker: [...common, 'NOTIFY_FCM_CREDENTIALS_SECRET', 'NOTIFY_FCM_PROJECT_ID', 'NOTIFY_MAX_RECEIVES'],
    WebhookWorker: [...common, 'NOTIFY_WEBHOOK_TIMEOUT_SECONDS', 'NOTIFY_MAX_RECEIVES'],
    InAppWorker: [...common, 'NOTIFY_WEBSOCKET_ENDPOINT', 'NOTIFY_MAX_RECEIVES'],
    ChatWorker: [...common, 'NOTIFY_WEBHOOK_TIMEOUT_SECONDS', 'NOTIFY_SLACK_API_URL', 'NOTIFY_MAX_RECEIVES'],
    Cleanup: [...common, ...queueVars, ...dlqVars],
    Events: [
      ...common,
      'NOTIFY_RETENTION_DAYS',
      'NOTIFY_MAX_DELIVERY_HOURS',
      'NOTIFY_EVENTS_RETRY_BASE_SECONDS',
      'NOTIFY_EVENTS_RETRY_MAX_SECONDS',
      'NOTIFY_EVENTS_QUEUE_ARN',
    ],
    Changes: [...common, 'NOTIFY_RETENTION_DAYS', 'NOTIFY_MAX_DELIVERY_HOURS', 'NOTIFY_CALLBACKS_QUEUE_URL'],
    Callbacks: [
      ...common,
      'NOTIFY_RETENTION_DAYS',
      'NOTIFY_CALLBACKS_DLQ_URL',
      'NOTIFY_CALLBACK_RETRY_HOURS',
      'NOTIFY_CALLBACK_TIMEOUT_SECONDS',
    ],
    Realtime: [...common, 'NOTIFY_RETENTION_DAYS', 'NOTIFY_MAX_DELIVERY_HOURS'],
  };
  const expected: Record<FunctionKey, { binary: string; memory: number; timeout: number }> = {
    Api: { binary: 'api', memory: 512, timeout: 29 },
    EmailWorker: { binary: 'email-worker', memory: 256, timeout: 30 },
    SmsWorker: { binary: 'sms-worker', memory: 256, timeout: 30 },
    PushWorker: { binary: 'push-worker', memory: 256, timeout: 30 },
    WebhookWorker: { binary: 'webhook-worker', memory: 256, timeout: 30 },
    InAppWorker: { binary: 'in-app-worker', memory: 256, timeout: 30 },
    ChatWorker: { binary: 'chat-worker', memory: 256, timeout: 30 },
    Cleanup: { binary: 'cleanup', memory: 256, timeout: 300 },
    Events: { binary: 'events', memory: 256, timeout: 30 },
    Changes: { binary: 'changes', memory: 256, timeout: 60 },
    Callbacks: { binary: 'callbacks', memory: 256, timeout: 60 },
    Realtime: { binary: 'realtime', memory: 256, timeout: 29 },
  };

  test('the API, a worker per channel, the cleanup, the events, the changes, the callbacks and the realtime functions: arm64 provided.al2023, with their memory, timeout, binary and log group', () => {
    // And SmsDeliveryStatusLoggingFunction (inline Python, below).
    template.resourceCountIs('AWS::Lambda::Function', CHANNELS.length + 7);
    for (const [k, e] of Object.entries(expected)) {
      const fn = t.Resources[`${k}Function`];
      expect(fn.Properties).toMatchObject({
        Runtime: 'provided.al2023',
        Architectures: ['arm64'],
        Handler: 'bootstrap',
        MemorySize: e.memory,
        Timeout: e.timeout,
        LoggingConfig: { LogGroup: { Ref: `${k}FunctionLogGroup` } },
      });
      expect(fn.Metadata.BuildProperties).toEqual({ Binary: e.binary });
      expect(t.Resources[`${k}FunctionLogGroup`]).toMatchObject({
        Type: 'AWS::Logs::LogGroup',
        Properties: { RetentionInDays: { Ref: 'LogRetentionDays' } },
      });
    }
  });

  test('environment variables: exactly the spec names, wired to the right resources', () => {
    for (const [k, names] of Object.entries(env)) {
      const vars = t.Resources[`${k}Function`].Properties.Environment.Variables;
      expect(Object.keys(vars).sort()).toEqual([...names].sort());
      expect(vars.NOTIFY_TABLE).toEqual({ Ref: 'NotificationsTable' });
      expect(vars.NOTIFY_METRICS_NAMESPACE).toEqual({ Ref: 'MetricsNamespace' });
      expect(vars.RUST_LOG).toBe('info');
    }
    const api = t.Resources.ApiFunction.Properties.Environment.Variables;
    for (const { c, p } of pairs) {
      expect(api[`NOTIFY_QUEUE_URL_${c.env}_${p.env}`]).toEqual({ Ref: queueId(c, p) });
      expect(api[`NOTIFY_DLQ_URL_${c.env}_${p.env}`]).toEqual({ Ref: dlqId(c, p) });
      expect(t.Resources.CleanupFunction.Properties.Environment.Variables[`NOTIFY_QUEUE_URL_${c.env}_${p.env}`]).toEqual({
        Ref: queueId(c, p),
      });
    }
    expect(api.NOTIFY_API_KEYS).toEqual({ Ref: 'ApiKeys' });
    expect(api.NOTIFY_ADMIN_KEYS).toEqual({ Ref: 'AdminKeys' });
    expect(api.NOTIFY_RETENTION_DAYS).toEqual({ Ref: 'RetentionDays' });
    expect(api.NOTIFY_REQUESTS_PER_MINUTE).toEqual({ Ref: 'RequestsPerMinute' });
    expect(api.NOTIFY_USER_REQUESTS_PER_MINUTE).toEqual({ Ref: 'UserRequestsPerMinute' });
    expect(api.NOTIFY_DAILY_QUOTA_PER_CHANNEL).toEqual({ Ref: 'DailyQuotaPerChannel' });
    expect(api.NOTIFY_AUDIT_RETENTION_DAYS).toEqual({ Ref: 'AuditRetentionDays' });
    const email = t.Resources.EmailWorkerFunction.Properties.Environment.Variables;
    expect(email.NOTIFY_EMAIL_FROM).toEqual({ Ref: 'SenderEmail' });
    expect(email.NOTIFY_SES_CONFIGURATION_SET).toEqual({ Ref: 'EmailConfigurationSet' });
    expect(email.NOTIFY_SEND_RATE_PER_SECOND).toEqual({ Ref: 'EmailSendRatePerSecond' });
    const sms = t.Resources.SmsWorkerFunction.Properties.Environment.Variables;
    expect(sms.NOTIFY_SMS_SENDER_ID).toEqual({ Ref: 'SmsSenderId' });
    expect(sms.NOTIFY_SMS_TYPE_NORMAL).toEqual({ Ref: 'SmsTypeNormal' });
    expect(sms.NOTIFY_SEND_RATE_PER_SECOND).toEqual({ Ref: 'SmsPartsPerSecond' });
    const push = t.Resources.PushWorkerFunction.Properties.Environment.Variables;
    expect(push.NOTIFY_FCM_CREDENTIALS_SECRET).toEqual({
      'Fn::If': ['CreateFcmSecret', { Ref: 'FcmCredentialsSecret' }, { Ref: 'FcmCredentialsSecretArn' }],
    });
    expect(push.NOTIFY_FCM_PROJECT_ID).toEqual({ Ref: 'FcmProjectId' });
    const inApp = t.Resources.InAppWorkerFunction.Properties.Environment.Variables;
    expect(flatten(inApp.NOTIFY_WEBSOCKET_ENDPOINT)).toBe(MANAGEMENT_ENDPOINT);
    // The chat worker posts with the webhook worker's timeout, and to Slack's Web API.
    const chat = t.Resources.ChatWorkerFunction.Properties.Environment.Variables;
    expect(chat.NOTIFY_WEBHOOK_TIMEOUT_SECONDS).toEqual({ Ref: 'WebhookTimeoutSeconds' });
    expect(t.Resources.WebhookWorkerFunction.Properties.Environment.Variables.NOTIFY_WEBHOOK_TIMEOUT_SECONDS).toEqual({
      Ref: 'WebhookTimeoutSeconds',
    });
    expect(chat.NOTIFY_SLACK_API_URL).toEqual({ Ref: 'SlackApiUrl' });
    expect(t.Resources.ChatWorkerFunction.Properties.Description).toBe(
      'Delivers the chat queues to Slack (incoming webhooks, chat.postMessage) and Microsoft Teams (Workflows)',
    );
    expect(t.Resources.RealtimeFunction.Properties.Environment.Variables).toEqual({
      NOTIFY_TABLE: { Ref: 'NotificationsTable' },
      NOTIFY_METRICS_NAMESPACE: { Ref: 'MetricsNamespace' },
      RUST_LOG: 'info',
      NOTIFY_RETENTION_DAYS: { Ref: 'RetentionDays' },
      NOTIFY_MAX_DELIVERY_HOURS: '24',
    });
    const events = t.Resources.EventsFunction.Properties.Environment.Variables;
    expect(events).toMatchObject({
      NOTIFY_RETENTION_DAYS: { Ref: 'RetentionDays' },
      NOTIFY_MAX_DELIVERY_HOURS: '24',
      NOTIFY_EVENTS_RETRY_BASE_SECONDS: '10',
      NOTIFY_EVENTS_RETRY_MAX_SECONDS: '120',
      NOTIFY_EVENTS_QUEUE_ARN: { 'Fn::GetAtt': ['EventsQueue', 'Arn'] },
    });
    expect(t.Resources.ChangesFunction.Properties.Environment.Variables).toMatchObject({
      NOTIFY_RETENTION_DAYS: { Ref: 'RetentionDays' },
      NOTIFY_MAX_DELIVERY_HOURS: '24',
      NOTIFY_CALLBACKS_QUEUE_URL: { Ref: 'CallbacksQueue' },
    });
    expect(t.Resources.ChangesFunction.Properties.Description).toBe(
      "Follows the table's stream of status changes and keeps the stats counters",
    );
  });

  test('FCM secret only when no ARN is given; alarm e-mail subscription only with an address', () => {
    expect(t.Conditions.CreateFcmSecret).toEqual({ 'Fn::Equals': [{ Ref: 'FcmCredentialsSecretArn' }, ''] });
    expect(t.Conditions.HasAlarmEmail).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmEmail' }, ''] }] });
    expect(t.Resources.FcmCredentialsSecret).toMatchObject({ Type: 'AWS::SecretsManager::Secret', Condition: 'CreateFcmSecret' });
    expect(t.Resources.AlarmTopicEmailSubscription).toMatchObject({
      Type: 'AWS::SNS::Subscription',
      Condition: 'HasAlarmEmail',
      Properties: { Protocol: 'email', Endpoint: { Ref: 'AlarmEmail' }, TopicArn: { Ref: 'AlarmTopic' } },
    });
  });
});

// ------------------------------------------------------------------------------------ the rest

describe('parameters', () => {
  test('names, types, defaults, NoEcho, AllowedValues', () => {
    const p = t.Parameters;
    const own = Object.keys(p).filter((k) => k !== 'BootstrapVersion').sort();
    expect(own).toEqual(
      [
        'SenderEmail', 'ApiKeys', 'AdminKeys', 'RetentionDays', 'MaxReceives', 'SesConfigurationSetName', 'SmsSenderId',
        'SmsTypeNormal', 'FcmCredentialsSecretArn', 'FcmProjectId', 'AlarmEmail', 'QueueAgeAlarmSeconds',
        'ApiThrottleRateLimit', 'ApiThrottleBurstLimit', 'LogRetentionDays', 'MetricsNamespace', 'WebhookTimeoutSeconds',
        'SlackApiUrl', 'SesTrackOpensAndClicks', 'SmsDeliveryStatusSamplingRate', 'CallbackRetryHours',
        'RequestsPerMinute', 'UserRequestsPerMinute', 'DailyQuotaPerChannel', 'AuditRetentionDays',
        'EmailSendRatePerSecond', 'SmsPartsPerSecond',
      ].sort(),
    );
    expect(p.ApiKeys).toMatchObject({ Type: 'String', NoEcho: true });
    expect(p.ApiKeys.Default).toBeUndefined();
    expect(p.AdminKeys).toMatchObject({ Type: 'String', NoEcho: true, Default: '' });
    expect(p.SenderEmail).toMatchObject({ Type: 'String', Default: 'noreply@example.com' });
    expect(p.SmsTypeNormal).toMatchObject({ Default: 'transactional', AllowedValues: ['transactional', 'promotional'] });
    expect(p.MetricsNamespace).toMatchObject({ Type: 'String', Default: 'Notify' });
    expect(p.SlackApiUrl).toMatchObject({ Type: 'String', Default: 'https://slack.com/api' });
    expect(p.RequestsPerMinute).toMatchObject({ Type: 'Number', Default: 3000, MinValue: 1, MaxValue: 1000000 });
    expect(p.UserRequestsPerMinute).toMatchObject({ Type: 'Number', Default: 120, MinValue: 1, MaxValue: 1000000 });
    expect(p.DailyQuotaPerChannel).toMatchObject({ Type: 'Number', Default: 250000, MinValue: 1, MaxValue: 100000000 });
    expect(p.AuditRetentionDays).toMatchObject({ Type: 'Number', Default: 365, MinValue: 1, MaxValue: 3650 });
    expect(p.EmailSendRatePerSecond).toMatchObject({ Type: 'Number', Default: 0, MinValue: 0, MaxValue: 1000 });
    expect(p.SmsPartsPerSecond).toMatchObject({ Type: 'Number', Default: 0, MinValue: 0, MaxValue: 1000 });
    for (const [k, d] of Object.entries({ RetentionDays: 30, QueueAgeAlarmSeconds: 600, ApiThrottleRateLimit: 100, ApiThrottleBurstLimit: 200, LogRetentionDays: 30 })) {
      expect(p[k]).toMatchObject({ Type: 'Number', Default: d });
    }
  });
});

describe('HTTP API, schedules, SES', () => {
  test('HTTP API proxies $default to the api function, throttled from parameters', () => {
    expect(t.Resources.HttpApi.Properties.ProtocolType).toBe('HTTP');
    expect(t.Resources.HttpApiIntegration.Properties).toMatchObject({
      ApiId: { Ref: 'HttpApi' },
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    expect(flatten(t.Resources.HttpApiIntegration.Properties.IntegrationUri)).toContain('${ApiFunction.Arn}');
    expect(t.Resources.HttpApiDefaultRoute.Properties).toMatchObject({ ApiId: { Ref: 'HttpApi' }, RouteKey: '$default' });
    expect(flatten(t.Resources.HttpApiDefaultRoute.Properties.Target)).toBe('integrations/${HttpApiIntegration}');
    expect(t.Resources.HttpApiStage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: { Ref: 'ApiThrottleRateLimit' }, ThrottlingBurstLimit: { Ref: 'ApiThrottleBurstLimit' } },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': ['HttpApiAccessLogs', 'Arn'] } },
    });
    expect(t.Resources.ApiFunctionInvokePermission.Properties).toMatchObject({
      Action: 'lambda:InvokeFunction',
      FunctionName: { Ref: 'ApiFunction' },
      Principal: 'apigateway.amazonaws.com',
    });
  });

  test('cleanup: sweep every minute, purge every hour', () => {
    for (const [name, rate, task] of [['Sweep', 'rate(1 minute)', 'sweep'], ['Purge', 'rate(1 hour)', 'purge']]) {
      const rule = t.Resources[`Cleanup${name}Schedule`].Properties;
      expect(rule.ScheduleExpression).toBe(rate);
      expect(rule.Targets).toHaveLength(1);
      expect(rule.Targets[0].Arn).toEqual({ 'Fn::GetAtt': ['CleanupFunction', 'Arn'] });
      expect(JSON.parse(rule.Targets[0].Input)).toEqual({ task });
      expect(t.Resources[`Cleanup${name}Permission`].Properties).toMatchObject({
        FunctionName: { Ref: 'CleanupFunction' },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [`Cleanup${name}Schedule`, 'Arn'] },
      });
    }
  });

  test('SES configuration set named from the parameter, reputation metrics on', () => {
    expect(t.Resources.EmailConfigurationSet.Properties).toEqual({
      Name: { Ref: 'SesConfigurationSetName' },
      ReputationOptions: { ReputationMetricsEnabled: true },
    });
  });
});

// ------------------------------------------------------------------------------------ SES events

/** The value of a template's condition for the given parameter values (their defaults otherwise). */
function holds(tmpl: Json, condition: string, params: Record<string, string>): boolean {
  const value = (v: Json): Json => {
    if (v && typeof v === 'object' && 'Ref' in v) {
      const p = tmpl.Parameters[v.Ref];
      if (!p) throw new Error(`Ref ${v.Ref}: not a parameter`);
      return v.Ref in params ? params[v.Ref] : String(p.Default);
    }
    return v;
  };
  const evaluate = (e: Json): boolean => {
    if ('Fn::Equals' in e) return value(e['Fn::Equals'][0]) === value(e['Fn::Equals'][1]);
    if ('Fn::Not' in e) return !evaluate(e['Fn::Not'][0]);
    if ('Condition' in e) return holds(tmpl, e.Condition, params);
    throw new Error(`unsupported condition ${JSON.stringify(e)}`);
  };
  if (!tmpl.Conditions?.[condition]) throw new Error(`no condition ${condition}`);
  return evaluate(tmpl.Conditions[condition]);
}

/** `v` with every Fn::If replaced by its branch for the given parameter values, as deployed. */
function deployed(tmpl: Json, v: Json, params: Record<string, string>): Json {
  if (Array.isArray(v)) return v.map((x) => deployed(tmpl, x, params));
  if (v && typeof v === 'object') {
    if ('Fn::If' in v) {
      const [condition, yes, no] = v['Fn::If'];
      return deployed(tmpl, holds(tmpl, condition, params) ? yes : no, params);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deployed(tmpl, x, params)]));
  }
  return v;
}

const DEFAULT_EVENT_TYPES = ['DELIVERY', 'BOUNCE', 'COMPLAINT', 'REJECT', 'RENDERING_FAILURE', 'DELIVERY_DELAY'];

/** Throws unless the configuration set publishes the default types, and opens and clicks only when asked. */
export function assertEventTypes(tmpl: Json): void {
  const types = (params: Record<string, string>) =>
    [...deployed(tmpl, tmpl.Resources.EmailConfigurationSetEventDestination.Properties.EventDestination, params).MatchingEventTypes].sort();
  expect(types({})).toEqual([...DEFAULT_EVENT_TYPES].sort());
  expect(types({ SesTrackOpensAndClicks: 'false' })).toEqual([...DEFAULT_EVENT_TYPES].sort());
  expect(types({ SesTrackOpensAndClicks: 'true' })).toEqual([...DEFAULT_EVENT_TYPES, 'OPEN', 'CLICK'].sort());
}

/** Throws unless only SES, for this account's configuration set, may publish to the topic. */
export function assertTopicPolicy(tmpl: Json): void {
  const policy = tmpl.Resources.SesEventsTopicPolicy.Properties;
  expect(policy.Topics).toEqual([{ Ref: 'SesEventsTopic' }]);
  expect(policy.PolicyDocument.Statement).toHaveLength(1);
  const [s] = policy.PolicyDocument.Statement;
  expect(s).toMatchObject({ Effect: 'Allow', Principal: { Service: 'ses.amazonaws.com' }, Resource: { Ref: 'SesEventsTopic' } });
  expect([].concat(s.Action)).toEqual(['sns:Publish']);
  expect(Object.keys(s.Condition)).toEqual(['StringEquals']);
  const c = s.Condition.StringEquals;
  expect(Object.keys(c).sort()).toEqual(['aws:SourceAccount', 'aws:SourceArn']);
  expect(c['aws:SourceAccount']).toEqual({ Ref: 'AWS::AccountId' });
  expect(flatten(c['aws:SourceArn'])).toBe(
    'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}',
  );
}

describe('SES events', () => {
  test('SesTrackOpensAndClicks: "true" or "false", default "false"; TrackOpensAndClicks is it being "true"', () => {
    expect(t.Parameters.SesTrackOpensAndClicks).toMatchObject({ Type: 'String', Default: 'false', AllowedValues: ['true', 'false'] });
    expect(t.Parameters.SesTrackOpensAndClicks.Description).toMatch(/track/i);
    expect(t.Conditions.TrackOpensAndClicks).toEqual({ 'Fn::Equals': [{ Ref: 'SesTrackOpensAndClicks' }, 'true'] });
  });

  test('the configuration set publishes delivery, bounce, complaint, reject, rendering failure and delay to the topic; opens and clicks only with SesTrackOpensAndClicks=true', () => {
    const destination = t.Resources.EmailConfigurationSetEventDestination.Properties;
    expect(destination.ConfigurationSetName).toEqual({ Ref: 'EmailConfigurationSet' });
    expect(destination.EventDestination).toMatchObject({ Enabled: true, SnsDestination: { TopicARN: { Ref: 'SesEventsTopic' } } });
    assertEventTypes(t);
  });

  test('only SES may publish to the topic, for this account and configuration set (aws:SourceAccount, aws:SourceArn)', () => {
    assertTopicPolicy(t);
  });

  test('the topic feeds EventsQueue with its envelope; only the topic may send to the queue', () => {
    expect(t.Resources.SesEventsSubscription.Properties).toEqual({
      TopicArn: { Ref: 'SesEventsTopic' },
      Protocol: 'sqs',
      Endpoint: { 'Fn::GetAtt': ['EventsQueue', 'Arn'] },
      RawMessageDelivery: false,
    });
    const policy = t.Resources.EventsQueuePolicy.Properties;
    expect(policy.Queues).toEqual([{ Ref: 'EventsQueue' }]);
    expect(policy.PolicyDocument.Statement).toEqual([
      {
        Sid: 'SesEventsTopicSends',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: { 'Fn::GetAtt': ['EventsQueue', 'Arn'] },
        Condition: { ArnEquals: { 'aws:SourceArn': { Ref: 'SesEventsTopic' } } },
      },
    ]);
  });

  test('EventsQueue redrives to EventsDeadLetterQueue after 10 receives (not MaxReceives); settings of the other queues', () => {
    const q = t.Resources.EventsQueue.Properties;
    expect(q.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] },
      maxReceiveCount: 10,
    });
    expect(q).toMatchObject({
      VisibilityTimeout: 6 * t.Resources.EventsFunction.Properties.Timeout,
      MessageRetentionPeriod: 345600,
      SqsManagedSseEnabled: true,
    });
    expect(t.Resources.EventsDeadLetterQueue.Properties).toEqual({ MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
  });

  test('EventsQueue invokes the events function, 10 at a time, with partial batch responses', () => {
    expect(t.Resources.EventsMapping.Properties).toEqual({
      EventSourceArn: { 'Fn::GetAtt': ['EventsQueue', 'Arn'] },
      FunctionName: { Ref: 'EventsFunction' },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(t.Resources.EventsFunction.Properties.Timeout).toBe(30);
  });

  test('the checks fail on a drifted pipeline (they can fail)', () => {
    const drifted = synthStack((stack) => {
      const destination = stack.node.findChild('EmailConfigurationSetEventDestination') as cdk.CfnResource;
      destination.addPropertyOverride('EventDestination.MatchingEventTypes', [...DEFAULT_EVENT_TYPES, 'OPEN', 'CLICK']);
      const policy = stack.node.findChild('SesEventsTopicPolicy') as sns.CfnTopicPolicy;
      policy.addPropertyDeletionOverride('PolicyDocument.Statement.0.Condition.StringEquals.aws:SourceArn');
      const role = stack.node.findChild('EventsRole') as iam.Role;
      (role.node.defaultChild as iam.CfnRole).addPropertyOverride('Policies.0.PolicyDocument.Statement.5', {
        Effect: 'Allow',
        Action: ['sns:Publish'],
        Resource: [{ Ref: 'SesEventsTopic' }],
      });
    }).template.toJSON();
    expect(() => assertEventTypes(drifted)).toThrow();
    expect(() => assertTopicPolicy(drifted)).toThrow();
    expect(() => assertEventsRoleLeastPrivilege(drifted)).toThrow();
  });
});

// ------------------------------------------------------------------------------------ SMS statuses

const SMS_STATUS_GROUPS_ARN =
  'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber*';

/** Throws unless each SMS status log group has a subscription to EventsFunction made after its permission. */
export function assertSmsStatusSubscriptions(tmpl: Json): void {
  const filters = Object.entries(tmpl.Resources as Record<string, Json>).filter(([, r]) => r.Type === 'AWS::Logs::SubscriptionFilter');
  expect(filters.map(([id]) => id).sort()).toEqual(['SmsDeliveryStatusFailureSubscription', 'SmsDeliveryStatusSubscription']);
  for (const [id, group] of [
    ['SmsDeliveryStatusSubscription', 'SmsDeliveryStatusLogGroup'],
    ['SmsDeliveryStatusFailureSubscription', 'SmsDeliveryStatusFailureLogGroup'],
  ]) {
    const f = tmpl.Resources[id];
    expect(f.Properties).toEqual({
      LogGroupName: { Ref: group },
      FilterPattern: '',
      DestinationArn: { 'Fn::GetAtt': ['EventsFunction', 'Arn'] },
    });
    expect([].concat(f.DependsOn ?? [])).toContain('EventsLogsPermission');
  }
  const permission = tmpl.Resources.EventsLogsPermission;
  expect(permission.Type).toBe('AWS::Lambda::Permission');
  expect(permission.Properties).toMatchObject({
    Action: 'lambda:InvokeFunction',
    FunctionName: { Ref: 'EventsFunction' },
    Principal: 'logs.amazonaws.com',
    SourceAccount: { Ref: 'AWS::AccountId' },
  });
  expect(flatten(permission.Properties.SourceArn)).toBe(SMS_STATUS_GROUPS_ARN);
}

/** Throws unless the custom resource's role may set the SMS attributes and pass the status role, nothing else. */
export function assertSmsStatusLoggingRole(tmpl: Json): void {
  assertExactGrants(tmpl, 'SmsDeliveryStatusLoggingRole', [
    { action: 'sns:SetSMSAttributes', resource: '*' },
    { action: 'iam:PassRole', resource: '${SmsDeliveryStatusRole.Arn}' },
  ]);
  expect(grants(tmpl, 'SmsDeliveryStatusLoggingRole').filter((g) => g.action.startsWith('logs:'))).toEqual(
    ['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => ({
      action,
      resource: '${SmsDeliveryStatusLoggingFunctionLogGroup.Arn}',
    })),
  );
  expect(tmpl.Resources.SmsDeliveryStatusLoggingRole.Properties.AssumeRolePolicyDocument.Statement).toEqual([
    { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
  ]);
}

/** Throws unless CloudWatch Logs' failed invocations of the events function go to its DLQ. */
export function assertEventsInvokeConfig(tmpl: Json): void {
  expect(tmpl.Resources.EventsInvokeConfig).toMatchObject({
    Type: 'AWS::Lambda::EventInvokeConfig',
    Properties: {
      FunctionName: { Ref: 'EventsFunction' },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] } } },
    },
  });
  expect(tmpl.Resources.EventsInvokeConfig.Properties.DestinationConfig.OnSuccess).toBeUndefined();
}

describe('SMS delivery statuses', () => {
  test("SNS's two log groups, by SNS's names, with the stack's retention (not retained)", () => {
    for (const [id, suffix] of [['SmsDeliveryStatusLogGroup', ''], ['SmsDeliveryStatusFailureLogGroup', '/Failure']]) {
      const g = t.Resources[id];
      expect(g.Type).toBe('AWS::Logs::LogGroup');
      expect(flatten(g.Properties.LogGroupName)).toBe(`sns/\${AWS::Region}/\${AWS::AccountId}/DirectPublishToPhoneNumber${suffix}`);
      expect(g.Properties.RetentionInDays).toEqual({ Ref: 'LogRetentionDays' });
      expect(g.DeletionPolicy).toBeUndefined();
      expect(g.UpdateReplacePolicy).toBeUndefined();
    }
  });

  test('SNS writes them with SmsDeliveryStatusRole: assumed by SNS for this account, the two groups only', () => {
    const role = t.Resources.SmsDeliveryStatusRole.Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
      },
    ]);
    expect(sorted(grants(t, 'SmsDeliveryStatusRole'))).toEqual(
      sorted(
        cross(
          ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:PutMetricFilter', 'logs:PutRetentionPolicy'],
          [SMS_STATUS_GROUPS_ARN],
        ),
      ),
    );
  });

  test('the custom resource turns the logging on with the role and the sampling rate, once the subscriptions exist', () => {
    const cr = t.Resources.SmsDeliveryStatusLogging;
    expect(cr.Type).toBe('Custom::SmsDeliveryStatusLogging');
    expect(cr.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': ['SmsDeliveryStatusLoggingFunction', 'Arn'] },
      DeliveryStatusIAMRole: { 'Fn::GetAtt': ['SmsDeliveryStatusRole', 'Arn'] },
      DeliveryStatusSuccessSamplingRate: { Ref: 'SmsDeliveryStatusSamplingRate' },
    });
    expect([...cr.DependsOn].sort()).toEqual(['SmsDeliveryStatusFailureSubscription', 'SmsDeliveryStatusSubscription']);
    expect(t.Parameters.SmsDeliveryStatusSamplingRate).toMatchObject({ Type: 'String', Default: '100' });
    const pattern = new RegExp(t.Parameters.SmsDeliveryStatusSamplingRate.AllowedPattern);
    for (const ok of ['0', '7', '50', '100']) expect(ok).toMatch(pattern);
    for (const bad of ['', '-1', '101', '50.5', '007', 'x']) expect(bad).not.toMatch(pattern);
  });

  test('its function: inline Python 3.12 (cfnresponse), its own log group; on, off on Delete, Delete always answered SUCCESS', () => {
    const fn = t.Resources.SmsDeliveryStatusLoggingFunction.Properties;
    expect(fn).toMatchObject({
      Runtime: 'python3.12',
      Handler: 'index.handler',
      Architectures: ['arm64'],
      Role: { 'Fn::GetAtt': ['SmsDeliveryStatusLoggingRole', 'Arn'] },
      LoggingConfig: { LogGroup: { Ref: 'SmsDeliveryStatusLoggingFunctionLogGroup' } },
      Code: { ZipFile: SMS_DELIVERY_STATUS_LOGGING_CODE },
    });
    expect(t.Resources.SmsDeliveryStatusLoggingFunctionLogGroup.Properties).toEqual({ RetentionInDays: { Ref: 'LogRetentionDays' } });
    const code = fn.Code.ZipFile as string;
    expect(code.length).toBeLessThan(4096); // CloudFormation's limit for ZipFile
    expect(code).toMatch(/^import cfnresponse$/m);
    expect(code).toContain('sns.set_sms_attributes(attributes=attributes)');
    expect(code).toContain('"DeliveryStatusIAMRole": ""');
    expect(code).toContain('"DeliveryStatusSuccessSamplingRate"');
    expect(code).toMatch(/if event\["RequestType"\] == "Delete":\n\s+# .*\n\s+status = cfnresponse.SUCCESS/);
    expect(code).toContain('status, reason = cfnresponse.FAILED, str(e)');
  });

  test("its role: sns:SetSMSAttributes and iam:PassRole on the status role only, logs to its own group", () => {
    assertSmsStatusLoggingRole(t);
  });

  test('both groups feed EventsFunction (every record), each subscription made after the Logs permission', () => {
    assertSmsStatusSubscriptions(t);
  });

  test("CloudWatch Logs' invocations that keep failing go to the events DLQ (2 retries)", () => {
    assertEventsInvokeConfig(t);
  });

  test('the checks fail on a drifted SMS pipeline (they can fail)', () => {
    const drifted = synthStack((stack) => {
      const table = stack.node.findChild('NotificationsTable') as dynamodb.CfnTable;
      table.addPropertyOverride('GlobalSecondaryIndexes.3.Projection', { ProjectionType: 'ALL' });
      const events = stack.node.findChild('EventsRole') as iam.Role;
      (events.node.defaultChild as iam.CfnRole).addPropertyOverride('Policies.0.PolicyDocument.Statement.2.Resource', [
        { 'Fn::GetAtt': ['NotificationsTable', 'Arn'] },
      ]);
      const logging = stack.node.findChild('SmsDeliveryStatusLoggingRole') as iam.Role;
      (logging.node.defaultChild as iam.CfnRole).addPropertyOverride('Policies.0.PolicyDocument.Statement.2.Resource', '*');
      const subscription = stack.node.findChild('SmsDeliveryStatusFailureSubscription') as cdk.CfnResource;
      subscription.addDeletionOverride('DependsOn');
      const config = stack.node.findChild('EventsInvokeConfig') as lambda.CfnEventInvokeConfig;
      config.addPropertyOverride('DestinationConfig.OnFailure.Destination', { 'Fn::GetAtt': ['EventsQueue', 'Arn'] });
    }).template.toJSON();
    expect(() => assertProviderIndex(drifted)).toThrow();
    expect(() => assertEventsRoleLeastPrivilege(drifted)).toThrow();
    expect(() => assertSmsStatusLoggingRole(drifted)).toThrow();
    expect(() => assertSmsStatusSubscriptions(drifted)).toThrow();
    expect(() => assertEventsInvokeConfig(drifted)).toThrow();
    const redirected = synthStack((stack) => {
      const subscription = stack.node.findChild('SmsDeliveryStatusSubscription') as cdk.CfnResource;
      subscription.addPropertyOverride('DestinationArn', { 'Fn::GetAtt': ['ApiFunction', 'Arn'] });
    }).template.toJSON();
    expect(() => assertSmsStatusSubscriptions(redirected)).toThrow();
  });
});

// ------------------------------------------------------------------------------------ stats counters

const STREAM = '${NotificationsTable.StreamArn}';

/** Throws unless the table streams every change with the item before and after it. */
export function assertTableStream(tmpl: Json): void {
  expect(tmpl.Resources.NotificationsTable.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
}

/**
 * Throws unless ChangesMapping alone follows the table's stream, to the changes function: only a
 * notification's record and inbox items (the code's CHANGES_STREAM_FILTER, exactly one filter),
 * from the oldest record kept, 100 at a time within 5 s, retried in order for up to a day (never
 * bisected, no partial batch responses), then recorded on ChangesDeadLetterQueue (a DLQ like the
 * others).
 */
export function assertChangesMapping(tmpl: Json): void {
  const onStream = Object.entries(tmpl.Resources as Record<string, Json>).filter(
    ([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping' && flatten(r.Properties.EventSourceArn) === STREAM,
  );
  expect(onStream.map(([id]) => id)).toEqual(['ChangesMapping']);
  expect(tmpl.Resources.ChangesMapping.Properties).toEqual({
    EventSourceArn: { 'Fn::GetAtt': ['NotificationsTable', 'StreamArn'] },
    FunctionName: { Ref: 'ChangesFunction' },
    FilterCriteria: { Filters: [{ Pattern: '{"dynamodb":{"Keys":{"SK":{"S":["NOTIFICATION",{"prefix":"INBOX#I#"}]}}}}' }] },
    StartingPosition: 'TRIM_HORIZON',
    BatchSize: 100,
    MaximumBatchingWindowInSeconds: 5,
    MaximumRetryAttempts: 1000,
    MaximumRecordAgeInSeconds: 86400,
    BisectBatchOnFunctionError: false,
    DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['ChangesDeadLetterQueue', 'Arn'] } } },
  });
  expect(tmpl.Resources.ChangesDeadLetterQueue.Type).toBe('AWS::SQS::Queue');
  expect(tmpl.Resources.ChangesDeadLetterQueue.Properties).toEqual({ MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
}

/**
 * Throws unless ChangesRole grants exactly what the mapping and the function use: the stream read
 * actions on the stream's ARN only, ListStreams on the table's streams, UpdateItem on the table
 * (the counters' TransactWriteItems) and GetItem (a tenant's callback subscriptions) and no other
 * table action, SendMessage to its DLQ and to the callbacks queue.
 */
export function assertChangesRoleLeastPrivilege(tmpl: Json): void {
  const streamRead = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'];
  assertExactGrants(tmpl, 'ChangesRole', [
    ...cross(streamRead, [STREAM]),
    ...cross(['dynamodb:ListStreams'], ['${NotificationsTable.Arn}/stream/*']),
    ...cross(['dynamodb:UpdateItem', 'dynamodb:GetItem'], ['${NotificationsTable.Arn}']),
    ...cross(['sqs:SendMessage'], ['${ChangesDeadLetterQueue.Arn}', '${CallbacksQueue.Arn}']),
  ]);
  const g = grants(tmpl, 'ChangesRole');
  expect(g.filter((x) => streamRead.includes(x.action)).map((x) => x.resource)).toEqual(streamRead.map(() => STREAM));
  // The table and its indexes: UpdateItem and GetItem on the table, nothing else (no PutItem,
  // Query, DeleteItem, no index: besides the stream, the function reads items by key only).
  expect(
    sorted(g.filter((x) => x.resource.startsWith('${NotificationsTable.Arn}') && !x.resource.includes('/stream/'))),
  ).toEqual(sorted(cross(['dynamodb:UpdateItem', 'dynamodb:GetItem'], ['${NotificationsTable.Arn}'])));
  for (const x of g) expect(x.action).not.toMatch(/^(ses|sns|secretsmanager|lambda):/);
}

/** An alarm's properties but its description, which must be there. */
const alarmSettings = (tmpl: Json, id: string): Json => {
  const { AlarmDescription, ...rest } = tmpl.Resources[id].Properties;
  expect(typeof AlarmDescription).toBe('string');
  return rest;
};

/**
 * Throws unless the three alarms of the stats counters are as specified: a message in the changes
 * DLQ within a minute, the function's error rate over 5 % for 5 minutes, its maximum IteratorAge
 * over 5 minutes for 3 periods of 5 minutes; each notifying the alarm topic.
 */
export function assertChangesAlarms(tmpl: Json): void {
  const notify = { AlarmActions: [{ Ref: 'AlarmTopic' }], OKActions: [{ Ref: 'AlarmTopic' }], TreatMissingData: 'notBreaching' };
  const fn = [{ Name: 'FunctionName', Value: { Ref: 'ChangesFunction' } }];
  expect(alarmSettings(tmpl, 'ChangesDeadLetterAlarm')).toEqual({
    ...notify,
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ChangesDeadLetterQueue', 'QueueName'] } }],
    Statistic: 'Maximum',
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
  });
  expect(alarmSettings(tmpl, 'ChangesErrorRateAlarm')).toEqual({
    ...notify,
    Metrics: [
      { Id: 'rate', Label: 'error rate (%)', Expression: 'IF(invocations > 0, 100 * errors / invocations, 0)', ReturnData: true },
      ...[
        ['errors', 'Errors'],
        ['invocations', 'Invocations'],
      ].map(([Id, MetricName]) => ({
        Id,
        ReturnData: false,
        MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName, Dimensions: fn }, Period: 60, Stat: 'Sum' },
      })),
    ],
    EvaluationPeriods: 5,
    Threshold: 5,
    ComparisonOperator: 'GreaterThanThreshold',
  });
  expect(alarmSettings(tmpl, 'ChangesIteratorAgeAlarm')).toEqual({
    ...notify,
    Namespace: 'AWS/Lambda',
    MetricName: 'IteratorAge',
    Dimensions: fn,
    Statistic: 'Maximum',
    Period: 300,
    EvaluationPeriods: 3,
    Threshold: 300000,
    ComparisonOperator: 'GreaterThanThreshold',
  });
}

// ------------------------------------------------------------------------------------ drift checks

/** A deliberate breakage of the synthesised stack, and the check that must then throw. */
type Drift = [string, (stack: cdk.Stack) => void, (tmpl: Json) => void];
const child = (stack: cdk.Stack, id: string) => stack.node.findChild(id) as cdk.CfnResource;
const roleOf = (stack: cdk.Stack, id: string) => (stack.node.findChild(id) as iam.Role).node.defaultChild as iam.CfnRole;
const functionOf = (stack: cdk.Stack, id: string) =>
  (stack.node.findChild(id) as lambda.Function).node.defaultChild as lambda.CfnFunction;

/** Each check fails on its breakage: a check that cannot fail proves nothing. */
function eachCheckCanFail(drifts: Drift[]): void {
  test.each<Drift>(drifts)('the check fails on %s (it can fail)', (_what, mutate, check) => {
    const tmpl = synthStack(mutate).template.toJSON();
    expect(() => check(tmpl)).toThrow();
  });
}

describe('stats counters (the table stream and the changes function)', () => {
  test('the table streams every change with its old and new images', () => {
    assertTableStream(t);
  });

  test('ChangesMapping: the stream filtered to notification records and inbox items, from TRIM_HORIZON, 100 a batch within 5 s, a day of retries in order, no bisecting, OnFailure to ChangesDeadLetterQueue', () => {
    assertChangesMapping(t);
  });

  test('ChangesRole: exactly the stream read, ListStreams, UpdateItem, GetItem, the DLQ and the callbacks queue', () => {
    assertChangesRoleLeastPrivilege(t);
  });

  test('alarms: the changes DLQ, the error rate, the iterator age (the stats lag)', () => {
    assertChangesAlarms(t);
  });

  // ChangesRole's statements: 0 logs, 1 stream read, 2 ListStreams, 3 UpdateItem, 4 the DLQ,
  // 5 GetItem (the callback subscriptions), 6 the callbacks queue.
  const drifts: Drift[] = [
    ['the stream with keys only', (s) => child(s, 'NotificationsTable').addPropertyOverride('StreamSpecification.StreamViewType', 'KEYS_ONLY'), assertTableStream],
    ['no stream', (s) => child(s, 'NotificationsTable').addPropertyDeletionOverride('StreamSpecification'), assertTableStream],
    ['the mapping from LATEST', (s) => child(s, 'ChangesMapping').addPropertyOverride('StartingPosition', 'LATEST'), assertChangesMapping],
    ['batches of 10', (s) => child(s, 'ChangesMapping').addPropertyOverride('BatchSize', 10), assertChangesMapping],
    ['bisecting a failed batch', (s) => child(s, 'ChangesMapping').addPropertyOverride('BisectBatchOnFunctionError', true), assertChangesMapping],
    ['partial batch responses', (s) => child(s, 'ChangesMapping').addPropertyOverride('FunctionResponseTypes', ['ReportBatchItemFailures']), assertChangesMapping],
    [
      'dropped batches to the events DLQ',
      (s) => child(s, 'ChangesMapping').addPropertyOverride('DestinationConfig.OnFailure.Destination', { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] }),
      assertChangesMapping,
    ],
    ['no failure destination', (s) => child(s, 'ChangesMapping').addPropertyDeletionOverride('DestinationConfig'), assertChangesMapping],
    ['no stream filter', (s) => child(s, 'ChangesMapping').addPropertyDeletionOverride('FilterCriteria'), assertChangesMapping],
    [
      'inbox items not let through',
      (s) => child(s, 'ChangesMapping').addPropertyOverride('FilterCriteria.Filters.0.Pattern', '{"dynamodb":{"Keys":{"SK":{"S":["NOTIFICATION"]}}}}'),
      assertChangesMapping,
    ],
    [
      'the stream read on the table',
      (s) => roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.1.Resource', { 'Fn::GetAtt': ['NotificationsTable', 'Arn'] }),
      assertChangesRoleLeastPrivilege,
    ],
    [
      'Query besides UpdateItem',
      (s) => roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.3.Action', ['dynamodb:UpdateItem', 'dynamodb:Query']),
      assertChangesRoleLeastPrivilege,
    ],
    [
      'UpdateItem on the indexes too',
      (s) =>
        roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.3.Resource', [
          { 'Fn::GetAtt': ['NotificationsTable', 'Arn'] },
          { 'Fn::Sub': '${NotificationsTable.Arn}/index/*' },
        ]),
      assertChangesRoleLeastPrivilege,
    ],
    [
      'PutItem in another statement',
      (s) =>
        roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.7', {
          Effect: 'Allow',
          Action: ['dynamodb:PutItem'],
          Resource: [{ 'Fn::GetAtt': ['NotificationsTable', 'Arn'] }],
        }),
      assertChangesRoleLeastPrivilege,
    ],
    ['no DLQ send', (s) => roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.4.Action', 'sqs:ReceiveMessage'), assertChangesRoleLeastPrivilege],
    ['an iterator age of 10 minutes', (s) => child(s, 'ChangesIteratorAgeAlarm').addPropertyOverride('Threshold', 600000), assertChangesAlarms],
    ['the iterator age over 1 period', (s) => child(s, 'ChangesIteratorAgeAlarm').addPropertyOverride('EvaluationPeriods', 1), assertChangesAlarms],
    [
      'the DLQ alarm on the events DLQ',
      (s) =>
        child(s, 'ChangesDeadLetterAlarm').addPropertyOverride('Dimensions.0.Value', { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'QueueName'] }),
      assertChangesAlarms,
    ],
    [
      "the error rate of the events function",
      (s) => child(s, 'ChangesErrorRateAlarm').addPropertyOverride('Metrics.1.MetricStat.Metric.Dimensions.0.Value', { Ref: 'EventsFunction' }),
      assertChangesAlarms,
    ],
  ];

  eachCheckCanFail(drifts);
});

// ------------------------------------------------------------------------------------ status callbacks

const CALLBACKS_QUEUE = '${CallbacksQueue.Arn}';

/**
 * Throws unless CallbacksQueue is a standard queue (SSE like the others) whose messages stay
 * invisible 6 × the callbacks function's timeout, are kept 4 days (longer than the retries' 24 h at
 * most) and go to CallbacksDeadLetterQueue after 50 receives (not MaxReceives); the DLQ like the
 * others.
 */
export function assertCallbacksQueues(tmpl: Json): void {
  expect(tmpl.Resources.CallbacksQueue.Type).toBe('AWS::SQS::Queue');
  expect(tmpl.Resources.CallbacksQueue.Properties).toEqual({
    VisibilityTimeout: 360,
    MessageRetentionPeriod: 345600,
    SqsManagedSseEnabled: true,
    RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['CallbacksDeadLetterQueue', 'Arn'] }, maxReceiveCount: 50 },
  });
  expect(tmpl.Resources.CallbacksQueue.Properties.VisibilityTimeout).toBe(6 * tmpl.Resources.CallbacksFunction.Properties.Timeout);
  expect(tmpl.Resources.CallbacksDeadLetterQueue.Type).toBe('AWS::SQS::Queue');
  expect(tmpl.Resources.CallbacksDeadLetterQueue.Properties).toEqual({ MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
}

/** Throws unless CallbacksMapping alone reads CallbacksQueue, to the callbacks function, 10 at a time, with partial batch responses. */
export function assertCallbacksMapping(tmpl: Json): void {
  const onQueue = Object.entries(tmpl.Resources as Record<string, Json>).filter(
    ([, r]) => r.Type === 'AWS::Lambda::EventSourceMapping' && flatten(r.Properties.EventSourceArn) === CALLBACKS_QUEUE,
  );
  expect(onQueue.map(([id]) => id)).toEqual(['CallbacksMapping']);
  expect(tmpl.Resources.CallbacksMapping.Properties).toEqual({
    EventSourceArn: { 'Fn::GetAtt': ['CallbacksQueue', 'Arn'] },
    FunctionName: { Ref: 'CallbacksFunction' },
    BatchSize: 10,
    FunctionResponseTypes: ['ReportBatchItemFailures'],
    ScalingConfig: { MaximumConcurrency: 10 },
  });
}

/**
 * Throws unless CallbacksRole grants exactly what the callbacks function uses: GetItem (the signing
 * secret) and UpdateItem (the delivery records) on the table, no index; its queue consumed and the
 * retries delayed; SendMessage to its DLQ only (never to its own queue); no SES, SNS or secrets.
 */
export function assertCallbacksRoleLeastPrivilege(tmpl: Json): void {
  assertExactGrants(tmpl, 'CallbacksRole', [
    ...cross(['dynamodb:GetItem', 'dynamodb:UpdateItem'], ['${NotificationsTable.Arn}']),
    ...cross(
      ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl'],
      [CALLBACKS_QUEUE],
    ),
    ...cross(['sqs:SendMessage'], ['${CallbacksDeadLetterQueue.Arn}']),
  ]);
  const g = grants(tmpl, 'CallbacksRole');
  for (const x of g) expect(x.action).not.toMatch(/^(ses|sns|secretsmanager|lambda):/);
  expect(g.filter((x) => x.action === 'sqs:SendMessage').map((x) => x.resource)).toEqual(['${CallbacksDeadLetterQueue.Arn}']);
}

/**
 * Throws unless CallbacksFunction is the `callbacks` binary as specified (arm64, 256 MB, 60 s, its
 * own log group and role) with exactly the spec's environment, and CallbackRetryHours is a number
 * from 1 to 24, 24 by default.
 */
export function assertCallbacksFunction(tmpl: Json): void {
  const fn = tmpl.Resources.CallbacksFunction;
  expect(fn.Metadata.BuildProperties).toEqual({ Binary: 'callbacks' });
  expect(fn.Properties).toMatchObject({
    Description: "Delivers signed status callbacks to the client's URLs, retrying for up to a day",
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    Handler: 'bootstrap',
    MemorySize: 256,
    Timeout: 60,
    Role: { 'Fn::GetAtt': ['CallbacksRole', 'Arn'] },
    LoggingConfig: { LogGroup: { Ref: 'CallbacksFunctionLogGroup' } },
  });
  expect(fn.Properties.Environment.Variables).toEqual({
    NOTIFY_TABLE: { Ref: 'NotificationsTable' },
    NOTIFY_METRICS_NAMESPACE: { Ref: 'MetricsNamespace' },
    RUST_LOG: 'info',
    NOTIFY_RETENTION_DAYS: { Ref: 'RetentionDays' },
    NOTIFY_CALLBACKS_DLQ_URL: { Ref: 'CallbacksDeadLetterQueue' },
    NOTIFY_CALLBACK_RETRY_HOURS: { Ref: 'CallbackRetryHours' },
    NOTIFY_CALLBACK_TIMEOUT_SECONDS: '10',
  });
  expect(tmpl.Resources.CallbacksFunctionLogGroup.Properties).toEqual({ RetentionInDays: { Ref: 'LogRetentionDays' } });
  expect(tmpl.Parameters.CallbackRetryHours).toMatchObject({ Type: 'Number', Default: 24, MinValue: 1, MaxValue: 24 });
}

/**
 * Throws unless the changes function can queue the callbacks: NOTIFY_CALLBACKS_QUEUE_URL is
 * CallbacksQueue's URL, its role may send to that queue (not the callbacks DLQ) and read a tenant's
 * subscriptions by key.
 */
export function assertChangesQueuesCallbacks(tmpl: Json): void {
  expect(tmpl.Resources.ChangesFunction.Properties.Environment.Variables.NOTIFY_CALLBACKS_QUEUE_URL).toEqual({ Ref: 'CallbacksQueue' });
  expect(allows(tmpl, 'ChangesRole', 'sqs:SendMessage', CALLBACKS_QUEUE)).toBe(true);
  expect(allows(tmpl, 'ChangesRole', 'dynamodb:GetItem', '${NotificationsTable.Arn}')).toBe(true);
  expect(grants(tmpl, 'ChangesRole').filter((x) => x.resource.startsWith('${Callbacks'))).toEqual([
    { action: 'sqs:SendMessage', resource: CALLBACKS_QUEUE },
  ]);
}

/**
 * Throws unless the two alarms of the callbacks are as specified: a message in the callbacks DLQ
 * within a minute (its description sends the operator to the failed deliveries), the function's
 * error rate over 5 % for 5 minutes; each notifying the alarm topic.
 */
export function assertCallbacksAlarms(tmpl: Json): void {
  const notify = { AlarmActions: [{ Ref: 'AlarmTopic' }], OKActions: [{ Ref: 'AlarmTopic' }], TreatMissingData: 'notBreaching' };
  expect(alarmSettings(tmpl, 'CallbacksDeadLetterAlarm')).toEqual({
    ...notify,
    Namespace: 'AWS/SQS',
    MetricName: 'ApproximateNumberOfMessagesVisible',
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['CallbacksDeadLetterQueue', 'QueueName'] } }],
    Statistic: 'Maximum',
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
  });
  expect(tmpl.Resources.CallbacksDeadLetterAlarm.Properties.AlarmDescription).toContain(
    'GET /v1/callbacks/deliveries?status=failed, then redrive',
  );
  const fn = [{ Name: 'FunctionName', Value: { Ref: 'CallbacksFunction' } }];
  expect(alarmSettings(tmpl, 'CallbacksErrorRateAlarm')).toEqual({
    ...notify,
    Metrics: [
      { Id: 'rate', Label: 'error rate (%)', Expression: 'IF(invocations > 0, 100 * errors / invocations, 0)', ReturnData: true },
      ...[
        ['errors', 'Errors'],
        ['invocations', 'Invocations'],
      ].map(([Id, MetricName]) => ({
        Id,
        ReturnData: false,
        MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName, Dimensions: fn }, Period: 60, Stat: 'Sum' },
      })),
    ],
    EvaluationPeriods: 5,
    Threshold: 5,
    ComparisonOperator: 'GreaterThanThreshold',
  });
}

describe('status callbacks (the callbacks queue and function)', () => {
  test('CallbacksQueue: standard, visibility 6 x the function timeout, 4 days, SSE, 50 receives to CallbacksDeadLetterQueue (14 days)', () => {
    assertCallbacksQueues(t);
  });

  test('CallbacksMapping: the queue to the callbacks function, 10 at a time, with partial batch responses', () => {
    assertCallbacksMapping(t);
  });

  test('CallbacksRole: exactly GetItem and UpdateItem on the table, its queue consumed and delayed, its DLQ sent to', () => {
    assertCallbacksRoleLeastPrivilege(t);
  });

  test('CallbacksFunction: the callbacks binary, 256 MB, 60 s, its log group, the spec environment; CallbackRetryHours 1 to 24 (24)', () => {
    assertCallbacksFunction(t);
  });

  test('the changes function queues the callbacks: NOTIFY_CALLBACKS_QUEUE_URL, SendMessage to CallbacksQueue, GetItem', () => {
    assertChangesQueuesCallbacks(t);
  });

  test('alarms: the callbacks DLQ, the error rate', () => {
    assertCallbacksAlarms(t);
  });

  // CallbacksRole's statements: 0 logs, 1 the table, 2 its queue, 3 its DLQ.
  // ChangesRole's: 0 logs, 1 stream read, 2 ListStreams, 3 UpdateItem, 4 its DLQ, 5 GetItem, 6 CallbacksQueue.
  const drifts: Drift[] = [
    ['MaxReceives receives', (s) => child(s, 'CallbacksQueue').addPropertyOverride('RedrivePolicy.maxReceiveCount', { Ref: 'MaxReceives' }), assertCallbacksQueues],
    ["the visibility of the workers' queues", (s) => child(s, 'CallbacksQueue').addPropertyOverride('VisibilityTimeout', 180), assertCallbacksQueues],
    ['2 days of retention', (s) => child(s, 'CallbacksQueue').addPropertyOverride('MessageRetentionPeriod', 172800), assertCallbacksQueues],
    ['a FIFO queue', (s) => child(s, 'CallbacksQueue').addPropertyOverride('FifoQueue', true), assertCallbacksQueues],
    ['no encryption', (s) => child(s, 'CallbacksQueue').addPropertyDeletionOverride('SqsManagedSseEnabled'), assertCallbacksQueues],
    [
      'redrive to the events DLQ',
      (s) => child(s, 'CallbacksQueue').addPropertyOverride('RedrivePolicy.deadLetterTargetArn', { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] }),
      assertCallbacksQueues,
    ],
    ['a DLQ kept 4 days', (s) => child(s, 'CallbacksDeadLetterQueue').addPropertyOverride('MessageRetentionPeriod', 345600), assertCallbacksQueues],
    ['no partial batch responses', (s) => child(s, 'CallbacksMapping').addPropertyDeletionOverride('FunctionResponseTypes'), assertCallbacksMapping],
    ['batches of 100', (s) => child(s, 'CallbacksMapping').addPropertyOverride('BatchSize', 100), assertCallbacksMapping],
    ['the queue to the changes function', (s) => child(s, 'CallbacksMapping').addPropertyOverride('FunctionName', { Ref: 'ChangesFunction' }), assertCallbacksMapping],
    ['the mapping on the events queue', (s) => child(s, 'CallbacksMapping').addPropertyOverride('EventSourceArn', { 'Fn::GetAtt': ['EventsQueue', 'Arn'] }), assertCallbacksMapping],
    [
      'PutItem besides GetItem and UpdateItem',
      (s) => roleOf(s, 'CallbacksRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.1.Action', ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem']),
      assertCallbacksRoleLeastPrivilege,
    ],
    [
      "the table's indexes too",
      (s) =>
        roleOf(s, 'CallbacksRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.1.Resource', [
          { 'Fn::GetAtt': ['NotificationsTable', 'Arn'] },
          { 'Fn::Sub': '${NotificationsTable.Arn}/index/*' },
        ]),
      assertCallbacksRoleLeastPrivilege,
    ],
    [
      'consuming the events queue',
      (s) => roleOf(s, 'CallbacksRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.2.Resource', [{ 'Fn::GetAtt': ['EventsQueue', 'Arn'] }]),
      assertCallbacksRoleLeastPrivilege,
    ],
    [
      'sending to its own queue rather than the DLQ',
      (s) => roleOf(s, 'CallbacksRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.3.Resource', [{ 'Fn::GetAtt': ['CallbacksQueue', 'Arn'] }]),
      assertCallbacksRoleLeastPrivilege,
    ],
    [
      'an SNS publish',
      (s) =>
        roleOf(s, 'CallbacksRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.4', {
          Effect: 'Allow',
          Action: ['sns:Publish'],
          Resource: [{ Ref: 'AlarmTopic' }],
        }),
      assertCallbacksRoleLeastPrivilege,
    ],
    ['a timeout of 30 s', (s) => functionOf(s, 'CallbacksFunction').addPropertyOverride('Timeout', 30), assertCallbacksFunction],
    ['512 MB', (s) => functionOf(s, 'CallbacksFunction').addPropertyOverride('MemorySize', 512), assertCallbacksFunction],
    [
      'the retry hours fixed, not the parameter',
      (s) => functionOf(s, 'CallbacksFunction').addPropertyOverride('Environment.Variables.NOTIFY_CALLBACK_RETRY_HOURS', '24'),
      assertCallbacksFunction,
    ],
    [
      'the URL timeout of the webhook worker',
      (s) =>
        functionOf(s, 'CallbacksFunction').addPropertyOverride('Environment.Variables.NOTIFY_CALLBACK_TIMEOUT_SECONDS', {
          Ref: 'WebhookTimeoutSeconds',
        }),
      assertCallbacksFunction,
    ],
    [
      'the queue URL as its DLQ',
      (s) => functionOf(s, 'CallbacksFunction').addPropertyOverride('Environment.Variables.NOTIFY_CALLBACKS_DLQ_URL', { Ref: 'CallbacksQueue' }),
      assertCallbacksFunction,
    ],
    [
      'no retention days',
      (s) => functionOf(s, 'CallbacksFunction').addPropertyDeletionOverride('Environment.Variables.NOTIFY_RETENTION_DAYS'),
      assertCallbacksFunction,
    ],
    ['retries for up to 48 hours', (s) => ((s.node.findChild('CallbackRetryHours') as cdk.CfnParameter).maxValue = 48), assertCallbacksFunction],
    [
      'no callbacks queue for the changes function',
      (s) => functionOf(s, 'ChangesFunction').addPropertyDeletionOverride('Environment.Variables.NOTIFY_CALLBACKS_QUEUE_URL'),
      assertChangesQueuesCallbacks,
    ],
    [
      'the changes function sending to the callbacks DLQ',
      (s) => roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.6.Resource', [{ 'Fn::GetAtt': ['CallbacksDeadLetterQueue', 'Arn'] }]),
      assertChangesQueuesCallbacks,
    ],
    [
      'no GetItem for the changes function',
      (s) => roleOf(s, 'ChangesRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.5.Action', 'dynamodb:DescribeTable'),
      assertChangesQueuesCallbacks,
    ],
    [
      'the DLQ alarm on the callbacks queue',
      (s) => child(s, 'CallbacksDeadLetterAlarm').addPropertyOverride('Dimensions.0.Value', { 'Fn::GetAtt': ['CallbacksQueue', 'QueueName'] }),
      assertCallbacksAlarms,
    ],
    ['the DLQ alarm after 5 minutes', (s) => child(s, 'CallbacksDeadLetterAlarm').addPropertyOverride('EvaluationPeriods', 5), assertCallbacksAlarms],
    [
      'the error rate of the changes function',
      (s) => child(s, 'CallbacksErrorRateAlarm').addPropertyOverride('Metrics.2.MetricStat.Metric.Dimensions.0.Value', { Ref: 'ChangesFunction' }),
      assertCallbacksAlarms,
    ],
    ['an error rate over 10 %', (s) => child(s, 'CallbacksErrorRateAlarm').addPropertyOverride('Threshold', 10), assertCallbacksAlarms],
  ];

  eachCheckCanFail(drifts);
});

// ------------------------------------------------------------------------------------ WebSocket API

const REALTIME_INVOCATION_URI =
  'arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${RealtimeFunction.Arn}/invocations';
const CONNECT_ROUTES = ['$connect', '$disconnect'];
const MESSAGE_ROUTES = ['$default', 'ack', 'seen', 'read', 'ping'];

/**
 * Throws unless the WebSocket API is as specified: WEBSOCKET, routed by the message's `action`;
 * exactly the routes $connect, $disconnect, $default, ack, seen, read and ping, each to the one
 * AWS_PROXY integration of the realtime function (its invocation URI), without an authoriser
 * ($connect checks the user token itself); the message routes two-way (RouteResponseSelectionExpression
 * $default and one $default route response each), the connection routes one-way.
 */
export function assertWebSocketApi(tmpl: Json): void {
  const r = tmpl.Resources;
  expect(r.WebSocketApi.Properties).toMatchObject({ ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' });
  const onApi = (type: string) =>
    Object.entries(r as Record<string, Json>).filter(([, x]) => x.Type === type && x.Properties.ApiId?.Ref === 'WebSocketApi');
  const integrations = onApi('AWS::ApiGatewayV2::Integration');
  expect(integrations.map(([id]) => id)).toEqual(['WebSocketIntegration']);
  expect(r.WebSocketIntegration.Properties.IntegrationType).toBe('AWS_PROXY');
  expect(flatten(r.WebSocketIntegration.Properties.IntegrationUri)).toBe(REALTIME_INVOCATION_URI);
  const routes = onApi('AWS::ApiGatewayV2::Route');
  expect(routes.map(([, x]) => x.Properties.RouteKey).sort()).toEqual([...CONNECT_ROUTES, ...MESSAGE_ROUTES].sort());
  const responses = onApi('AWS::ApiGatewayV2::RouteResponse');
  for (const [id, route] of routes) {
    const p = route.Properties;
    expect([p.RouteKey, flatten(p.Target)]).toEqual([p.RouteKey, 'integrations/${WebSocketIntegration}']);
    expect([p.RouteKey, p.AuthorizationType, p.AuthorizerId]).toEqual([p.RouteKey, 'NONE', undefined]);
    const own = responses.filter(([, x]) => x.Properties.RouteId?.Ref === id).map(([, x]) => x.Properties.RouteResponseKey);
    if (MESSAGE_ROUTES.includes(p.RouteKey)) {
      expect([p.RouteKey, p.RouteResponseSelectionExpression, own]).toEqual([p.RouteKey, '$default', ['$default']]);
    } else {
      expect([p.RouteKey, p.RouteResponseSelectionExpression, own]).toEqual([p.RouteKey, undefined, []]);
    }
  }
  expect(responses).toHaveLength(MESSAGE_ROUTES.length);
}

/**
 * Throws unless the WebSocket API's stage auto-deploys, throttled from the API's parameters, API
 * Gateway may invoke the realtime function for this API only, and the WebSocketUrl output is the
 * stage's wss:// URL.
 */
export function assertWebSocketStage(tmpl: Json): void {
  const stages = Object.entries(tmpl.Resources as Record<string, Json>).filter(
    ([, x]) => x.Type === 'AWS::ApiGatewayV2::Stage' && x.Properties.ApiId?.Ref === 'WebSocketApi',
  );
  expect(stages.map(([id]) => id)).toEqual(['WebSocketStage']);
  expect(tmpl.Resources.WebSocketStage.Properties).toEqual({
    ApiId: { Ref: 'WebSocketApi' },
    StageName: 'live',
    AutoDeploy: true,
    DefaultRouteSettings: { ThrottlingRateLimit: { Ref: 'ApiThrottleRateLimit' }, ThrottlingBurstLimit: { Ref: 'ApiThrottleBurstLimit' } },
  });
  const permission = tmpl.Resources.RealtimeFunctionInvokePermission;
  expect(permission.Type).toBe('AWS::Lambda::Permission');
  expect(permission.Properties).toMatchObject({
    Action: 'lambda:InvokeFunction',
    FunctionName: { Ref: 'RealtimeFunction' },
    Principal: 'apigateway.amazonaws.com',
  });
  expect(flatten(permission.Properties.SourceArn)).toBe(
    'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/*',
  );
  expect(flatten(tmpl.Outputs.WebSocketUrl.Value)).toBe(
    'wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}',
  );
}

/**
 * Throws unless the in-app worker may POST to the WebSocket stage's connections (and no other role
 * any execute-api action), and its NOTIFY_WEBSOCKET_ENDPOINT is the stage's management endpoint.
 */
export function assertInAppWorkerPushes(tmpl: Json): void {
  for (const [id, r] of Object.entries(tmpl.Resources as Record<string, Json>)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    const own = grants(tmpl, id).filter((g) => g.action.startsWith('execute-api:'));
    expect([id, own]).toEqual([id, id === 'InAppWorkerRole' ? [{ action: 'execute-api:ManageConnections', resource: CONNECTIONS }] : []]);
  }
  expect(flatten(tmpl.Resources.InAppWorkerFunction.Properties.Environment.Variables.NOTIFY_WEBSOCKET_ENDPOINT)).toBe(
    MANAGEMENT_ENDPOINT,
  );
  expect(tmpl.Resources.InAppWorkerFunction.Metadata.BuildProperties).toEqual({ Binary: 'in-app-worker' });
}

/**
 * Throws unless RealtimeRole grants exactly GetItem, PutItem, UpdateItem, DeleteItem and Query on
 * the table (the marks' TransactWriteItems is authorised as the Put and Update in it): no index,
 * no scan, no queue, no other service.
 */
export function assertRealtimeRoleLeastPrivilege(tmpl: Json): void {
  assertExactGrants(
    tmpl,
    'RealtimeRole',
    cross(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'], [
      '${NotificationsTable.Arn}',
    ]),
  );
}

/** Throws unless RealtimeFunction is the `realtime` binary: arm64, 256 MB, 29 s, its own role and log group. */
export function assertRealtimeFunction(tmpl: Json): void {
  const fn = tmpl.Resources.RealtimeFunction;
  expect(fn.Metadata.BuildProperties).toEqual({ Binary: 'realtime' });
  expect(fn.Properties).toMatchObject({
    Runtime: 'provided.al2023',
    Architectures: ['arm64'],
    Handler: 'bootstrap',
    MemorySize: 256,
    Timeout: 29,
    Role: { 'Fn::GetAtt': ['RealtimeRole', 'Arn'] },
    LoggingConfig: { LogGroup: { Ref: 'RealtimeFunctionLogGroup' } },
  });
  expect(tmpl.Resources.RealtimeFunctionLogGroup.Properties).toEqual({ RetentionInDays: { Ref: 'LogRetentionDays' } });
}

describe('WebSocket API (the realtime function, the in-app worker)', () => {
  test('WEBSOCKET, routed by $request.body.action: $connect, $disconnect, $default, ack, seen, read, ping to the realtime function, no authoriser; the message routes two-way', () => {
    assertWebSocketApi(t);
    expect(Object.values(WEBSOCKET_MESSAGE_ROUTES).sort()).toEqual([...MESSAGE_ROUTES].sort());
  });

  test('stage `live`: auto-deployed, throttled; API Gateway may invoke the realtime function for this API; the WebSocketUrl output', () => {
    assertWebSocketStage(t);
  });

  test("the in-app worker: ManageConnections on the stage's connections only, NOTIFY_WEBSOCKET_ENDPOINT the management endpoint", () => {
    assertInAppWorkerPushes(t);
  });

  test('RealtimeRole: the table only, by key and partition', () => {
    assertRealtimeRoleLeastPrivilege(t);
  });

  test('RealtimeFunction: the realtime binary, 256 MB, 29 s, its role and log group', () => {
    assertRealtimeFunction(t);
  });

  // InAppWorkerRole's statements: 0 logs, 1 the table, 2 its queues, 3 the connections.
  // RealtimeRole's: 0 logs, 1 the table.
  const drifts: Drift[] = [
    ['an HTTP API', (s) => child(s, 'WebSocketApi').addPropertyOverride('ProtocolType', 'HTTP'), assertWebSocketApi],
    ['routing by another field', (s) => child(s, 'WebSocketApi').addPropertyOverride('RouteSelectionExpression', '$request.body.type'), assertWebSocketApi],
    ['the ping route missing', (s) => s.node.tryRemoveChild('WebSocketPingRoute'), assertWebSocketApi],
    ['a route renamed', (s) => child(s, 'WebSocketReadRoute').addPropertyOverride('RouteKey', 'markRead'), assertWebSocketApi],
    ['a one-way ack', (s) => child(s, 'WebSocketAckRoute').addPropertyDeletionOverride('RouteResponseSelectionExpression'), assertWebSocketApi],
    ['a message route without its route response', (s) => s.node.tryRemoveChild('WebSocketSeenRouteResponse'), assertWebSocketApi],
    ['a two-way $connect', (s) => child(s, 'WebSocketConnectRoute').addPropertyOverride('RouteResponseSelectionExpression', '$default'), assertWebSocketApi],
    ['an IAM authoriser on $connect', (s) => child(s, 'WebSocketConnectRoute').addPropertyOverride('AuthorizationType', 'AWS_IAM'), assertWebSocketApi],
    [
      "the API function's ARN as the integration",
      (s) => child(s, 'WebSocketIntegration').addPropertyOverride('IntegrationUri', { 'Fn::GetAtt': ['RealtimeFunction', 'Arn'] }),
      assertWebSocketApi,
    ],
    [
      'the api function behind the WebSocket API',
      (s) =>
        child(s, 'WebSocketIntegration').addPropertyOverride('IntegrationUri', {
          'Fn::Sub': 'arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${ApiFunction.Arn}/invocations',
        }),
      assertWebSocketApi,
    ],
    ['a stage without auto-deploy', (s) => child(s, 'WebSocketStage').addPropertyOverride('AutoDeploy', false), assertWebSocketStage],
    ['an unthrottled stage', (s) => child(s, 'WebSocketStage').addPropertyDeletionOverride('DefaultRouteSettings'), assertWebSocketStage],
    [
      'any API may invoke the realtime function',
      (s) =>
        child(s, 'RealtimeFunctionInvokePermission').addPropertyOverride('SourceArn', {
          'Fn::Sub': 'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/*',
        }),
      assertWebSocketStage,
    ],
    [
      'an http:// WebSocketUrl',
      (s) => (s.node.findChild('OutputWebSocketUrl') as cdk.CfnOutput).value = cdk.Fn.sub('https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}'),
      assertWebSocketStage,
    ],
    [
      "every stage's connections",
      (s) =>
        roleOf(s, 'InAppWorkerRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.3.Resource', {
          'Fn::Sub': 'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/*',
        }),
      assertInAppWorkerPushes,
    ],
    [
      'ManageConnections for the realtime function too',
      (s) =>
        roleOf(s, 'RealtimeRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.2', {
          Effect: 'Allow',
          Action: ['execute-api:ManageConnections'],
          Resource: [{ 'Fn::Sub': CONNECTIONS }],
        }),
      assertInAppWorkerPushes,
    ],
    [
      'the HTTP API as the endpoint',
      (s) =>
        functionOf(s, 'InAppWorkerFunction').addPropertyOverride('Environment.Variables.NOTIFY_WEBSOCKET_ENDPOINT', {
          'Fn::Sub': 'https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}',
        }),
      assertInAppWorkerPushes,
    ],
    ['no endpoint', (s) => functionOf(s, 'InAppWorkerFunction').addPropertyDeletionOverride('Environment.Variables.NOTIFY_WEBSOCKET_ENDPOINT'), assertInAppWorkerPushes],
    [
      'Scan besides',
      (s) =>
        roleOf(s, 'RealtimeRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.1.Action', [
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:Query',
          'dynamodb:Scan',
        ]),
      assertRealtimeRoleLeastPrivilege,
    ],
    [
      "the table's indexes too",
      (s) =>
        roleOf(s, 'RealtimeRole').addPropertyOverride('Policies.0.PolicyDocument.Statement.1.Resource', [
          { 'Fn::GetAtt': ['NotificationsTable', 'Arn'] },
          { 'Fn::Sub': '${NotificationsTable.Arn}/index/*' },
        ]),
      assertRealtimeRoleLeastPrivilege,
    ],
    ['a 60 s timeout', (s) => functionOf(s, 'RealtimeFunction').addPropertyOverride('Timeout', 60), assertRealtimeFunction],
    ["the api's log group", (s) => functionOf(s, 'RealtimeFunction').addPropertyOverride('LoggingConfig.LogGroup', { Ref: 'ApiFunctionLogGroup' }), assertRealtimeFunction],
  ];

  eachCheckCanFail(drifts);
});

describe('dashboard', () => {
  const metrics = (): Array<{ ns: string; name: string; dims: Record<string, string> }> => {
    const body = JSON.parse(flatten(t.Resources.Dashboard.Properties.DashboardBody));
    const out: Array<{ ns: string; name: string; dims: Record<string, string> }> = [];
    for (const w of body.widgets) {
      for (const m of w.properties?.metrics ?? []) {
        const f = m.filter((x: Json) => typeof x === 'string');
        const dims: Record<string, string> = {};
        for (let i = 2; i + 1 < f.length; i += 2) dims[f[i]] = f[i + 1];
        out.push({ ns: f[0], name: f[1], dims });
      }
    }
    return out;
  };
  const has = (ns: string, name: string, dims: Record<string, string>) =>
    expect(metrics()).toContainEqual({ ns, name, dims });

  test('API requests, latency, 4xx and 5xx', () => {
    for (const name of ['Count', 'Latency', '4xx', '5xx']) has('AWS/ApiGateway', name, { ApiId: '${HttpApi}' });
  });

  test('every queue: depth and age; every DLQ: depth', () => {
    for (const { c, p } of pairs) {
      has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${' + queueId(c, p) + '.QueueName}' });
      has('AWS/SQS', 'ApproximateAgeOfOldestMessage', { QueueName: '${' + queueId(c, p) + '.QueueName}' });
      has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${' + dlqId(c, p) + '.QueueName}' });
    }
  });

  test('every worker, the events, the changes, the callbacks and the realtime functions: invocations, errors, throttles, duration', () => {
    for (const fn of [
      ...CHANNELS.map((c) => `${c.id}WorkerFunction`),
      'EventsFunction',
      'ChangesFunction',
      'CallbacksFunction',
      'RealtimeFunction',
    ]) {
      for (const name of ['Invocations', 'Errors', 'Throttles', 'Duration']) {
        has('AWS/Lambda', name, { FunctionName: '${' + fn + '}' });
      }
    }
  });

  test("the events function's counts (by Function=events), its queue's age and depth, its DLQ's depth", () => {
    for (const name of ['Recorded', 'Duplicate', 'NotYet', 'Foreign', 'Ignored', 'Unreadable', 'StoreErrors']) {
      has('${MetricsNamespace}', name, { Function: 'events' });
    }
    has('AWS/SQS', 'ApproximateAgeOfOldestMessage', { QueueName: '${EventsQueue.QueueName}' });
    has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${EventsQueue.QueueName}' });
    has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${EventsDeadLetterQueue.QueueName}' });
  });

  test("the changes function's counts (by Function=changes), its iterator age (the stats' lag), its DLQ's depth", () => {
    for (const name of ['Records', 'StatusChanges']) has('${MetricsNamespace}', name, { Function: 'changes' });
    has('AWS/Lambda', 'IteratorAge', { FunctionName: '${ChangesFunction}' });
    has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${ChangesDeadLetterQueue.QueueName}' });
  });

  test("status callbacks: the callbacks function's counts (by Function=callbacks), those the changes function queued, the callbacks queue's age and depth, its DLQ's depth", () => {
    for (const name of ['Delivered', 'Retried', 'Failed', 'Unreadable']) has('${MetricsNamespace}', name, { Function: 'callbacks' });
    has('${MetricsNamespace}', 'CallbacksQueued', { Function: 'changes' });
    has('AWS/SQS', 'ApproximateAgeOfOldestMessage', { QueueName: '${CallbacksQueue.QueueName}' });
    has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${CallbacksQueue.QueueName}' });
    has('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: '${CallbacksDeadLetterQueue.QueueName}' });
  });

  test("the SMS delivery status log groups' incoming records", () => {
    for (const group of ['SmsDeliveryStatusLogGroup', 'SmsDeliveryStatusFailureLogGroup']) {
      has('AWS/Logs', 'IncomingLogEvents', { LogGroupName: '${' + group + '}' });
    }
  });

  test("the service's EMF metrics, per channel, in the MetricsNamespace namespace", () => {
    for (const c of CHANNELS) {
      for (const name of ['Accepted', 'Sent', 'Failed', 'Suppressed', 'ProviderLatency']) {
        has('${MetricsNamespace}', name, { Channel: c.lower });
      }
    }
  });
});
