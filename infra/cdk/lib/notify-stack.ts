// Stack `Notify`: the deployed system, resource for resource the same as template.yaml (same
// logical IDs, parameters, conditions and settings; infra/parity.py fails on any drift).
//
// L1 (Cfn*) resources are used wherever an L2 would add something of its own (grants, policies,
// removal policies, names); the Rust functions are cargo-lambda-cdk RustFunctions (L2), the SMS
// delivery status custom resource's is a lambda.Function with inline Python, all with explicit
// roles, and no L2 event source or grant is used, so the IAM statements below are all there is.
import * as path from 'node:path';
import * as cdk from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { RustFunction } from 'cargo-lambda-cdk';
import { Construct } from 'constructs';

/** The workspace manifest (the repository root), relative to this file. */
export const MANIFEST_PATH = path.join(__dirname, '..', '..', '..', 'Cargo.toml');

/** An Allow statement (every statement of the stack's roles is one). */
export const statement = (actions: string[], resources: string[]) =>
  new iam.PolicyStatement({ effect: iam.Effect.ALLOW, actions, resources });

/** The WebSocket API's stage: its URL's path, the management endpoint's, the connections' ARNs'. */
export const WEBSOCKET_STAGE = 'live';
/** The WebSocket API (for Fn::Sub, as the channels' statements refer to resources by logical ID). */
export const WEBSOCKET_API_ARN = 'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}';
/** Where the in-app worker posts to connections (Fn::Sub). */
export const WEBSOCKET_MANAGEMENT_ENDPOINT = 'https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}';

/** What the stack gives a channel's own statements and settings to refer to. */
export interface ChannelContext {
  /** The stack's parameters, by logical ID. */
  readonly parameters: Readonly<Record<string, cdk.CfnParameter>>;
  /** EmailConfigurationSet. */
  readonly configurationSet: ses.CfnConfigurationSet;
  /** The secret with the FCM key: FcmCredentialsSecret, or the FcmCredentialsSecretArn given. */
  readonly fcmSecretArn: string;
}

/** A delivery channel: what its queues and worker are called, and what only its worker needs. */
export interface ChannelSpec {
  /** Logical ID prefix: `${id}HighQueue`, `${id}WorkerRole`, `${id}WorkerHighMapping`, ... */
  readonly id: string;
  /** In the queue variables: NOTIFY_QUEUE_URL_<env>_<priority>. */
  readonly env: string;
  /** As the API spells it (in_app): labels, the Channel metric dimension; the worker's binary (workerBinary). */
  readonly lower: string;
  /** The worker function's description. */
  readonly description: string;
  /** The worker role's own statements, after its log group, the table and its three queues. */
  readonly statements: (x: ChannelContext) => iam.PolicyStatement[];
  /** The worker's own environment, after what every worker has. */
  readonly environment: (x: ChannelContext) => Record<string, string>;
}

// THE CHANNEL LIST of the CDK app (template.yaml's is in infra/channels.py). Each entry makes, by
// the loops below: 3 queues and 3 DLQs (one per priority), 3 event source mappings, a worker
// (role with the common statements plus `statements`, function, log group), the DLQ, queue-age
// and error-rate alarms, the API's and the cleanup's access to its queues, its dashboard rows.
export const CHANNELS = [
  {
    id: 'Email',
    env: 'EMAIL',
    lower: 'email',
    description: 'Delivers the email queues through Amazon SES',
    statements: () => [
      statement(
        ['ses:SendEmail'],
        [
          cdk.Fn.sub('arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*'),
          cdk.Fn.sub(
            'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}',
          ),
        ],
      ),
    ],
    environment: ({ parameters, configurationSet }) => ({
      NOTIFY_EMAIL_FROM: parameters.SenderEmail.valueAsString,
      // Ref of the configuration set: its name (the parameter), once it exists.
      NOTIFY_SES_CONFIGURATION_SET: configurationSet.ref,
      // SES's send rate, across all the worker's instances (0: unlimited).
      NOTIFY_SEND_RATE_PER_SECOND: parameters.EmailSendRatePerSecond.valueAsString,
    }),
  },
  {
    id: 'Sms',
    env: 'SMS',
    lower: 'sms',
    description: 'Delivers the SMS queues through Amazon SNS',
    // An SMS to a phone number has no ARN to scope to.
    statements: () => [statement(['sns:Publish', 'sns:CheckIfPhoneNumberIsOptedOut'], ['*'])],
    environment: ({ parameters }) => ({
      // Always set: the code treats an empty value as none (shared/src/config.rs, Env::optional).
      NOTIFY_SMS_SENDER_ID: parameters.SmsSenderId.valueAsString,
      NOTIFY_SMS_TYPE_NORMAL: parameters.SmsTypeNormal.valueAsString,
      // The origination identity's parts a second, across all the worker's instances (0: unlimited).
      NOTIFY_SEND_RATE_PER_SECOND: parameters.SmsPartsPerSecond.valueAsString,
    }),
  },
  {
    id: 'Push',
    env: 'PUSH',
    lower: 'push',
    description: 'Delivers the push queues through Firebase Cloud Messaging',
    statements: ({ fcmSecretArn }) => [statement(['secretsmanager:GetSecretValue'], [fcmSecretArn])],
    environment: ({ parameters, fcmSecretArn }) => ({
      NOTIFY_FCM_CREDENTIALS_SECRET: fcmSecretArn,
      NOTIFY_FCM_PROJECT_ID: parameters.FcmProjectId.valueAsString,
    }),
  },
  {
    id: 'Webhook',
    env: 'WEBHOOK',
    lower: 'webhook',
    description: 'Delivers the webhook queues: signed HTTPS POSTs (Standard Webhooks)',
    // No AWS permissions beyond its queues, the table (endpoints, records) and its logs.
    statements: () => [],
    environment: ({ parameters }) => ({
      NOTIFY_WEBHOOK_TIMEOUT_SECONDS: parameters.WebhookTimeoutSeconds.valueAsString,
    }),
  },
  {
    id: 'InApp',
    env: 'IN_APP',
    lower: 'in_app',
    description: "Delivers the in-app queues: the user's inbox, pushed to their live WebSocket connections",
    // The inbox items, counters and change log (written in TransactWriteItems, which IAM
    // authorises as the Put and Update in it) and the connection items deleted on 410 Gone are
    // the table's common statement. The pushes: POST to a connection of the WebSocket API's
    // stage, nothing else of the API.
    statements: () => [
      statement(
        ['execute-api:ManageConnections'],
        [cdk.Fn.sub(`${WEBSOCKET_API_ARN}/\${WebSocketStage}/POST/@connections/*`)],
      ),
    ],
    environment: () => ({
      // The WebSocket API stage's management endpoint (the worker refuses to start without it).
      NOTIFY_WEBSOCKET_ENDPOINT: cdk.Fn.sub(WEBSOCKET_MANAGEMENT_ENDPOINT),
    }),
  },
  {
    id: 'Chat',
    env: 'CHAT',
    lower: 'chat',
    description: 'Delivers the chat queues to Slack (incoming webhooks, chat.postMessage) and Microsoft Teams (Workflows)',
    // No AWS permissions beyond its queues, the table (chat targets, the send slots taken with a
    // conditional UpdateItem, records) and its logs.
    statements: () => [],
    environment: ({ parameters }) => ({
      // Its posts go through the webhooks' network guard, with their timeout.
      NOTIFY_WEBHOOK_TIMEOUT_SECONDS: parameters.WebhookTimeoutSeconds.valueAsString,
      NOTIFY_SLACK_API_URL: parameters.SlackApiUrl.valueAsString,
    }),
  },
] as const satisfies readonly ChannelSpec[];
export type Channel = (typeof CHANNELS)[number];

/** Per priority: the event source mapping's batching window (s) and maximum concurrency. */
export const PRIORITIES = [
  { id: 'High', env: 'HIGH', batchingWindow: 0, maxConcurrency: 50 },
  { id: 'Normal', env: 'NORMAL', batchingWindow: 1, maxConcurrency: 20 },
  { id: 'Low', env: 'LOW', batchingWindow: 5, maxConcurrency: 5 },
] as const;
export type Priority = (typeof PRIORITIES)[number];

/** A channel's worker: the logical ID prefix of its role, function and log group. */
export const workerKey = (c: Channel) => `${c.id}Worker` as const;
export type WorkerKey = ReturnType<typeof workerKey>;
/** A channel's worker binary: `<lower>-worker` with `-` for `_` (in-app-worker), as Channel::worker names it. */
export const workerBinary = (c: Channel) => `${c.lower.replace(/_/g, '-')}-worker`;
/** The Rust functions (cargo-lambda): SmsDeliveryStatusLoggingFunction, inline Python, is apart. */
export type FunctionKey = 'Api' | WorkerKey | 'Cleanup' | 'Events' | 'Changes' | 'Callbacks' | 'Realtime';

/** A function: cargo binary, memory (MB), timeout (s), description. */
export interface FunctionSpec {
  readonly binary: string;
  readonly memory: number;
  readonly timeout: number;
  readonly description: string;
}
export const WORKER_MEMORY = 256;
export const WORKER_TIMEOUT = 30;
export const EVENTS_TIMEOUT = 30;
/** The changes function's: a batch of 100 stream records may take several transactions (at most 50 counter items each). */
export const CHANGES_TIMEOUT = 60;
/** The callbacks function's: a batch of 10 callbacks, each URL allowed CALLBACK_TIMEOUT_SECONDS to answer. */
export const CALLBACKS_TIMEOUT = 60;
/** The realtime function's: API Gateway's limit for a WebSocket integration (a later answer never reaches the client). */
export const REALTIME_TIMEOUT = 29;

/** Logical ID prefix → function: the API, one worker per channel, the cleanup. */
export const FUNCTIONS: Readonly<Record<FunctionKey, FunctionSpec>> = {
  Api: {
    binary: 'api',
    memory: 512,
    // Up to API Gateway's 30 s: a batch of 10,000 on a new on-demand table may wait out
    // DynamoDB's throttling while the table scales.
    timeout: 29,
    description: 'The HTTP API: validates, records and queues notifications',
  },
  ...(Object.fromEntries(
    CHANNELS.map((c) => [
      workerKey(c),
      { binary: workerBinary(c), memory: WORKER_MEMORY, timeout: WORKER_TIMEOUT, description: c.description },
    ]),
  ) as Record<WorkerKey, FunctionSpec>),
  Cleanup: {
    binary: 'cleanup',
    memory: 256,
    timeout: 300,
    description: 'Releases scheduled notifications, re-enqueues, expires and purges old records',
  },
  Events: {
    binary: 'events',
    memory: WORKER_MEMORY,
    timeout: EVENTS_TIMEOUT,
    description:
      'Records what SES and SNS report after sending (delivered, bounced, complained, SMS delivery statuses) and keeps the suppression list',
  },
  Changes: {
    binary: 'changes',
    memory: WORKER_MEMORY,
    timeout: CHANGES_TIMEOUT,
    description: "Follows the table's stream of status changes and keeps the stats counters",
  },
  Callbacks: {
    binary: 'callbacks',
    memory: WORKER_MEMORY,
    timeout: CALLBACKS_TIMEOUT,
    description: "Delivers signed status callbacks to the client's URLs, retrying for up to a day",
  },
  Realtime: {
    binary: 'realtime',
    // Each event is a few reads and writes by key, like a worker's message.
    memory: WORKER_MEMORY,
    timeout: REALTIME_TIMEOUT,
    description: "The WebSocket API: authenticates users' apps, keeps their connections, answers their acks, marks and pings",
  },
};

/** Queue visibility timeout: 6 × the worker timeout (AWS's advice for SQS event sources). */
export const QUEUE_VISIBILITY_TIMEOUT = 6 * WORKER_TIMEOUT;
export const QUEUE_RETENTION = 345600; // 4 days
export const DLQ_RETENTION = 1209600; // 14 days, the SQS maximum
export const BATCH_SIZE = 10;
/** EventsQueue's visibility timeout: 6 × the events function's timeout, as for the workers. */
export const EVENTS_VISIBILITY_TIMEOUT = 6 * EVENTS_TIMEOUT;
/**
 * EventsQueue's maxReceiveCount, not MaxReceives: an event that came before its notification's
 * `sent` is retried with a backoff (10 s doubling to 120 s), and 10 receives give it up to about
 * 12 minutes (local/src/resources.rs's EVENTS_MAX_RECEIVES agrees).
 */
export const EVENTS_MAX_RECEIVES = 10;
/** What SES publishes to SesEventsTopic; opens and clicks too with SesTrackOpensAndClicks. */
export const SES_EVENT_TYPES = ['DELIVERY', 'BOUNCE', 'COMPLAINT', 'REJECT', 'RENDERING_FAILURE', 'DELIVERY_DELAY'];
export const SES_TRACKING_EVENT_TYPES = ['OPEN', 'CLICK'];
/** What the events function counts per batch (EMF, dimension Function=events; functions/events). */
export const EVENT_OUTCOMES = ['Recorded', 'Duplicate', 'NotYet', 'Foreign', 'Ignored', 'Unreadable', 'StoreErrors'];
/** What the changes function counts per stream batch (EMF, dimension Function=changes; functions/changes). */
export const CHANGES_COUNTS = ['Records', 'StatusChanges'];
/**
 * ChangesMapping, on the table's stream, filtered (CHANGES_STREAM_FILTER): from the oldest record
 * kept, 100 at a time gathered for up to 5 s (the stats' documented lag); a failing batch retried
 * in order for up to a day, never bisected (its counts go in a transaction, one per 50 counter
 * items, whose idempotency token comes from the batch's first and last sequence numbers: a half
 * would change it, and count again), then recorded on ChangesDeadLetterQueue.
 */
export const CHANGES_MAPPING = {
  startingPosition: 'TRIM_HORIZON',
  batchSize: 100,
  maximumBatchingWindowInSeconds: 5,
  maximumRetryAttempts: 1000,
  maximumRecordAgeInSeconds: 86400,
  bisectBatchOnFunctionError: false,
} as const;
/**
 * ChangesMapping's filter (Lambda event filtering): only the records the changes function acts on
 * invoke it, a notification's record (SK exactly NOTIFICATION) and an inbox item (SK beginning
 * INBOX#I#, whose removal it uncounts). The table's other writes (rate and quota counters, audit
 * entries, a key's last use...) would each cost an invocation for nothing. Exactly the code's
 * CHANGES_STREAM_FILTER (shared/src/store/changes.rs).
 */
export const CHANGES_STREAM_FILTER = '{"dynamodb":{"Keys":{"SK":{"S":["NOTIFICATION",{"prefix":"INBOX#I#"}]}}}}';
/** ChangesIteratorAgeAlarm: the stats more than 5 minutes behind, for 3 periods of 5 minutes. */
export const CHANGES_MAX_ITERATOR_AGE_MS = 300000;
/** CallbacksQueue's visibility timeout: 6 × the callbacks function's timeout, as for the workers. */
export const CALLBACKS_VISIBILITY_TIMEOUT = 6 * CALLBACKS_TIMEOUT;
/** CallbacksQueue's retention: 4 days (the SQS default, as make dev), longer than the retries' window (CallbackRetryHours, at most 24). */
export const CALLBACKS_RETENTION = 345600;
/** CallbacksMapping's MaximumConcurrency: callbacks never take the workers' concurrency. */
export const CALLBACKS_MAX_CONCURRENCY = 10;
/**
 * CallbacksQueue's maxReceiveCount, not MaxReceives: a callback is retried with a backoff (30 s
 * doubling to 1 h), about 30 receives in 24 hours, and the function dead-letters it itself; 50 is
 * the backstop (local/src/resources.rs agrees).
 */
export const CALLBACKS_MAX_RECEIVES = 50;
/** How long a client's URL is given to answer (a longer wait is retried). */
export const CALLBACK_TIMEOUT_SECONDS = 10;
/** What the callbacks function counts (EMF, dimension Function=callbacks; functions/callbacks). */
export const CALLBACK_OUTCOMES = ['Delivered', 'Retried', 'Failed', 'Unreadable'];
/** The callbacks the changes function queues (EMF, dimension Function=changes). */
export const CALLBACKS_QUEUED = 'CallbacksQueued';
/** The log groups SNS writes SMS delivery statuses to (successes, failures): its names, per account and region. */
export const SMS_STATUS_LOG_GROUP_NAME = 'sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber';
export const SMS_STATUS_FAILURE_LOG_GROUP_NAME = `${SMS_STATUS_LOG_GROUP_NAME}/Failure`;
/** Both groups (and their streams): what SNS may write to, what may invoke the events function. */
export const SMS_STATUS_LOG_GROUPS_ARN = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${SMS_STATUS_LOG_GROUP_NAME}*`;
/**
 * SmsDeliveryStatusLoggingFunction's code, inline (Python, cfnresponse comes with inline code):
 * template.yaml has the same text (infra/parity.py compares them).
 */
export const SMS_DELIVERY_STATUS_LOGGING_CODE = `# SNS's SMS delivery status logging is an account-level setting (SetSMSAttributes, per
# region) with no CloudFormation resource: this custom resource sets it.
import boto3
import cfnresponse
from botocore.config import Config

# Short timeouts: an answer within the function's minute, never a stack left waiting.
sns = boto3.client("sns", config=Config(connect_timeout=5, read_timeout=10))


def handler(event, context):
    try:
        if event["RequestType"] == "Delete":
            # An empty role turns the logging off.
            attributes = {"DeliveryStatusIAMRole": ""}
        else:
            props = event["ResourceProperties"]
            attributes = {
                "DeliveryStatusIAMRole": props["DeliveryStatusIAMRole"],
                "DeliveryStatusSuccessSamplingRate": str(props["DeliveryStatusSuccessSamplingRate"]),
            }
        sns.set_sms_attributes(attributes=attributes)
        status, reason = cfnresponse.SUCCESS, None
    except Exception as e:
        print(f"SetSMSAttributes failed: {e!r}")
        status, reason = cfnresponse.FAILED, str(e)
    if event["RequestType"] == "Delete":
        # A stack deletion never hangs or fails on this setting.
        status = cfnresponse.SUCCESS
    # One physical id, always: an update is never a replacement (whose Delete of the
    # old one would turn the logging off).
    cfnresponse.send(event, context, status, {}, "sms-delivery-status-logging", reason=reason)
`;

/**
 * The client's messages, `{"action": ...}` (RouteSelectionExpression `$request.body.action`), each
 * a two-way route, with $default for any other: logical ID infix → route key.
 */
export const WEBSOCKET_MESSAGE_ROUTES = { Default: '$default', Ack: 'ack', Seen: 'seen', Read: 'read', Ping: 'ping' } as const;
const TABLE_ACTIONS_RW = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
];
/**
 * The indexes of GET /v1/notifications (besides GSI3, by batch): a tenant's notifications (16
 * shards), by recipient, by client reference. Sorted by `id`, keys only; the API queries them.
 */
export const LISTING_INDEXES = ['GSI5', 'GSI6', 'GSI7'] as const;
/**
 * The API's besides: bulk writes and reads of batches and the listing's reads of the records its
 * index entries name (100 at a time), /health/detailed.
 */
const TABLE_ACTIONS_API = ['dynamodb:BatchWriteItem', 'dynamodb:BatchGetItem', 'dynamodb:DescribeTable'];
const TABLE_ACTIONS_CLEANUP = [
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:Scan',
];
/** The events function: a notification read and changed conditionally, suppression items written. */
const TABLE_ACTIONS_EVENTS = ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem'];
/** What the event source mapping reads the table's stream with (on the stream's ARN). */
const STREAM_READ_ACTIONS = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'];
/** What SNS's role may do to the SMS status log groups. */
const SMS_STATUS_LOGS_ACTIONS = [
  'logs:CreateLogGroup',
  'logs:CreateLogStream',
  'logs:PutLogEvents',
  'logs:PutMetricFilter',
  'logs:PutRetentionPolicy',
];
/** The event source mapping's three, and the retries' delay (ChangeMessageVisibility on the
 * queue URL, which GetQueueUrl finds from the event's queue ARN): the events and the callbacks
 * functions, on their queues. */
const RETRYING_QUEUE_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueUrl',
];
const WORKER_QUEUE_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:SendMessage',
];

export const queueId = (c: Channel, p: Priority) => `${c.id}${p.id}Queue`;
export const dlqId = (c: Channel, p: Priority) => `${c.id}${p.id}DeadLetterQueue`;
export const mappingId = (c: Channel, p: Priority) => `${c.id}Worker${p.id}Mapping`;

function pairs(): Array<[Channel, Priority]> {
  return CHANNELS.flatMap((c) => PRIORITIES.map((p) => [c, p] as [Channel, Priority]));
}

export class NotifyStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);

    // ---------------------------------------------------------------- parameters
    // By logical ID: a parameter only one channel uses is read by its CHANNELS entry.
    const parameters: Record<string, cdk.CfnParameter> = {};
    const param = (name: string, p: cdk.CfnParameterProps) => {
      const parameter = new cdk.CfnParameter(this, name, p);
      parameter.overrideLogicalId(name);
      parameters[name] = parameter;
      return parameter;
    };
    param('SenderEmail', {
      type: 'String',
      default: 'noreply@example.com',
      description: 'The SES-verified address emails are sent from.',
    });
    const apiKeys = param('ApiKeys', {
      type: 'String',
      noEcho: true,
      description: 'API keys as tenant:key[,tenant:key...]; each key at least 20 printable characters.',
    });
    const adminKeys = param('AdminKeys', {
      type: 'String',
      noEcho: true,
      default: '',
      description: 'Keys for the admin routes (/v1/admin/...), comma separated; none disables them.',
    });
    const requestsPerMinute = param('RequestsPerMinute', {
      type: 'Number',
      default: 3000,
      minValue: 1,
      maxValue: 1000000,
      description: 'Requests a minute allowed to a tenant that has no limits of its own in the table.',
    });
    const userRequestsPerMinute = param('UserRequestsPerMinute', {
      type: 'Number',
      default: 120,
      minValue: 1,
      maxValue: 1000000,
      description:
        "Requests a minute of one user's token (an app's inbox, marks and read acknowledgements), counted apart from its tenant's; the API's NOTIFY_USER_REQUESTS_PER_MINUTE.",
    });
    const dailyQuotaPerChannel = param('DailyQuotaPerChannel', {
      type: 'Number',
      default: 250000,
      minValue: 1,
      maxValue: 100000000,
      description:
        'Notifications a day (UTC) per channel accepted from a tenant that has no limits of its own in the table.',
    });
    const auditRetentionDays = param('AuditRetentionDays', {
      type: 'Number',
      default: 365,
      minValue: 1,
      maxValue: 3650,
      description: 'How long audit trail entries are kept (DynamoDB TTL).',
    });
    param('EmailSendRatePerSecond', {
      type: 'Number',
      default: 0,
      minValue: 0,
      maxValue: 1000,
      description:
        "SES's maximum send rate for this account (messages a second, all email workers together); 0: unlimited",
    });
    param('SmsPartsPerSecond', {
      type: 'Number',
      default: 0,
      minValue: 0,
      maxValue: 1000,
      description:
        'SMS parts a second the origination identity allows (e.g. 1 for a long code, 3 for a toll-free number, 100 for a short code), all SMS workers together; 0: unlimited',
    });
    const retentionDays = param('RetentionDays', {
      type: 'Number',
      default: 30,
      minValue: 1,
      maxValue: 3650,
      description: 'How long notification records are kept (DynamoDB TTL).',
    });
    const maxReceives = param('MaxReceives', {
      type: 'Number',
      default: 5,
      minValue: 2,
      maxValue: 20,
      description:
        'Deliveries of a message before it goes to its dead-letter queue (the workers record failed on the last).',
    });
    const sesConfigurationSetName = param('SesConfigurationSetName', {
      type: 'String',
      default: 'notify',
      description: 'The SES configuration set emails are sent with (created by this stack).',
    });
    const sesTrackOpensAndClicks = param('SesTrackOpensAndClicks', {
      type: 'String',
      default: 'false',
      allowedValues: ['true', 'false'],
      description:
        'Whether SES also reports opens and clicks. They need SES\'s tracking, which rewrites every link of an email to go through SES and adds a tracking pixel; "false" sends emails as written.',
    });
    param('SmsSenderId', {
      type: 'String',
      default: '',
      allowedPattern: '^[A-Za-z0-9]{0,11}$',
      description:
        'SNS SMS sender id (1 to 11 letters and digits, where the destination country supports it); empty for none.',
    });
    param('SmsTypeNormal', {
      type: 'String',
      default: 'transactional',
      allowedValues: ['transactional', 'promotional'],
      description: 'SNS SMS type of normal-priority messages (high is always transactional, low promotional).',
    });
    const fcmCredentialsSecretArn = param('FcmCredentialsSecretArn', {
      type: 'String',
      default: '',
      description:
        'ARN of a Secrets Manager secret holding the Firebase service-account key JSON; empty to create an empty secret to fill in.',
    });
    // The name says "Secret", but it holds an ARN (no secret value): nothing to hide.
    cdk.Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W2509',
      reason: 'FcmCredentialsSecretArn is the ARN of a secret, not a secret value',
    });
    param('FcmProjectId', {
      type: 'String',
      default: '',
      description: "The Firebase project id; empty to use the service-account key's.",
    });
    param('WebhookTimeoutSeconds', {
      type: 'Number',
      default: 15,
      minValue: 1,
      maxValue: 20,
      description:
        "How long the webhook and chat workers wait for a receiver's answer (a longer wait is a transient failure, retried).",
    });
    param('SlackApiUrl', {
      type: 'String',
      default: 'https://slack.com/api',
      description: "Slack's Web API, where the chat worker calls chat.postMessage; another for Slack GovSlack or a proxy.",
    });
    const callbackRetryHours = param('CallbackRetryHours', {
      type: 'Number',
      default: 24,
      minValue: 1,
      maxValue: 24,
      description: 'How long a status callback is retried before it is failed and dead-lettered.',
    });
    const alarmEmail = param('AlarmEmail', {
      type: 'String',
      default: '',
      description: "An address subscribed to the operators' alarm topic; empty for none.",
    });
    const queueAgeAlarmSeconds = param('QueueAgeAlarmSeconds', {
      type: 'Number',
      default: 600,
      minValue: 60,
      description: "Alarm when a queue's oldest message is older than this.",
    });
    const apiThrottleRateLimit = param('ApiThrottleRateLimit', {
      type: 'Number',
      default: 100,
      description:
        'Steady-state requests per second the HTTP API stage allows (and connections and messages the WebSocket API stage does).',
    });
    const apiThrottleBurstLimit = param('ApiThrottleBurstLimit', {
      type: 'Number',
      default: 200,
      description:
        'Burst of requests the HTTP API stage allows (and of connections and messages the WebSocket API stage does).',
    });
    const logRetentionDays = param('LogRetentionDays', {
      type: 'Number',
      default: 30,
      // The values CloudWatch Logs accepts, as numbers like the default (cfn-lint E2015 otherwise;
      // the CDK types AllowedValues as strings).
      allowedValues: [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
      ] as unknown as string[],
      description: "Retention of the functions' and the API's log groups.",
    });
    const metricsNamespace = param('MetricsNamespace', {
      type: 'String',
      default: 'Notify',
      description: 'CloudWatch namespace of the metrics the functions emit (Embedded Metric Format).',
    });
    const smsDeliveryStatusSamplingRate = param('SmsDeliveryStatusSamplingRate', {
      type: 'String',
      default: '100',
      allowedPattern: '^(100|[1-9]?[0-9])$',
      constraintDescription: 'a whole number from 0 to 100',
      description:
        'The percentage of successful SMS whose delivery status SNS logs (the events function records delivered from it); failures are always logged.',
    });

    // ---------------------------------------------------------------- conditions
    const createFcmSecret = new cdk.CfnCondition(this, 'CreateFcmSecret', {
      expression: cdk.Fn.conditionEquals(fcmCredentialsSecretArn.valueAsString, ''),
    });
    createFcmSecret.overrideLogicalId('CreateFcmSecret');
    const hasAlarmEmail = new cdk.CfnCondition(this, 'HasAlarmEmail', {
      expression: cdk.Fn.conditionNot(cdk.Fn.conditionEquals(alarmEmail.valueAsString, '')),
    });
    hasAlarmEmail.overrideLogicalId('HasAlarmEmail');
    const trackOpensAndClicks = new cdk.CfnCondition(this, 'TrackOpensAndClicks', {
      expression: cdk.Fn.conditionEquals(sesTrackOpensAndClicks.valueAsString, 'true'),
    });
    trackOpensAndClicks.overrideLogicalId('TrackOpensAndClicks');

    // ---------------------------------------------------------------- table
    const table = new dynamodb.CfnTable(this, 'NotificationsTable', {
      billingMode: 'PAY_PER_REQUEST',
      attributeDefinitions: [
        ...['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'GSI3PK', 'GSI3SK', 'GSI4PK', 'GSI4SK'],
        ...LISTING_INDEXES.map((indexName) => `${indexName}PK`),
        'id',
      ].map((attributeName) => ({
        attributeName,
        attributeType: 'S',
      })),
      keySchema: [
        { attributeName: 'PK', keyType: 'HASH' },
        { attributeName: 'SK', keyType: 'RANGE' },
      ],
      // GSI1: every registration of a device token. GSI2: due markers (sparse). GSI3: the
      // notifications of a batch (sparse) with their status, for its summary. GSI4: a
      // notification by its provider's message id (sparse: SMS records, once sent), which is all
      // SNS's delivery status names.
      // GSI5, GSI6, GSI7: GET /v1/notifications, newest first (sorted by the record's id, a
      // UUIDv7), keys only (the records are then read in batches): all of a tenant's notifications
      // over 16 shards read at once; those to one recipient; those with one client reference
      // (sparse). An existing stack adds them one per deployment (infra/README.md).
      globalSecondaryIndexes: [
        ...['GSI1', 'GSI2', 'GSI3', 'GSI4'].map((indexName) => ({
          indexName,
          keySchema: [
            { attributeName: `${indexName}PK`, keyType: 'HASH' },
            { attributeName: `${indexName}SK`, keyType: 'RANGE' },
          ],
          projection:
            indexName === 'GSI3'
              ? { projectionType: 'INCLUDE', nonKeyAttributes: ['status', 'ttl'] }
              : { projectionType: 'KEYS_ONLY' },
        })),
        ...LISTING_INDEXES.map((indexName) => ({
          indexName,
          keySchema: [
            { attributeName: `${indexName}PK`, keyType: 'HASH' },
            { attributeName: 'id', keyType: 'RANGE' },
          ],
          projection: { projectionType: 'KEYS_ONLY' },
        })),
      ],
      timeToLiveSpecification: { attributeName: 'ttl', enabled: true },
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      sseSpecification: { sseEnabled: true },
      // Every change, with the item before and after it: the changes function counts the status
      // changes into the stats counters (ChangesMapping). Enabling it on a deployed table is an
      // update in place (infra/README.md).
      streamSpecification: { streamViewType: 'NEW_AND_OLD_IMAGES' },
    });
    table.overrideLogicalId('NotificationsTable');
    // The records outlive the stack: deleting or replacing it keeps the table.
    table.cfnOptions.deletionPolicy = cdk.CfnDeletionPolicy.RETAIN;
    table.cfnOptions.updateReplacePolicy = cdk.CfnDeletionPolicy.RETAIN;
    // index/*: Query on every index, the listing's GSI3, GSI5, GSI6 and GSI7 among them.
    const tableResources = [table.attrArn, cdk.Fn.sub('${NotificationsTable.Arn}/index/*')];

    // ---------------------------------------------------------------- queues
    const queues = new Map<string, sqs.CfnQueue>();
    const dlqs = new Map<string, sqs.CfnQueue>();
    for (const [c, p] of pairs()) {
      const dlq = new sqs.CfnQueue(this, dlqId(c, p), {
        messageRetentionPeriod: DLQ_RETENTION,
        sqsManagedSseEnabled: true,
      });
      dlq.overrideLogicalId(dlqId(c, p));
      const queue = new sqs.CfnQueue(this, queueId(c, p), {
        visibilityTimeout: QUEUE_VISIBILITY_TIMEOUT,
        messageRetentionPeriod: QUEUE_RETENTION,
        sqsManagedSseEnabled: true,
        redrivePolicy: {
          deadLetterTargetArn: dlq.attrArn,
          maxReceiveCount: maxReceives.valueAsNumber,
        },
      });
      queue.overrideLogicalId(queueId(c, p));
      queues.set(queueId(c, p), queue);
      dlqs.set(dlqId(c, p), dlq);
    }
    const queue = (c: Channel, p: Priority) => queues.get(queueId(c, p))!;
    const dlqOf = (c: Channel, p: Priority) => dlqs.get(dlqId(c, p))!;
    const allQueueArns = pairs().map(([c, p]) => queue(c, p).attrArn);
    const allDlqArns = pairs().map(([c, p]) => dlqOf(c, p).attrArn);
    const queueUrlEnv = Object.fromEntries(
      pairs().map(([c, p]) => [`NOTIFY_QUEUE_URL_${c.env}_${p.env}`, queue(c, p).ref]),
    );
    const dlqUrlEnv = Object.fromEntries(
      pairs().map(([c, p]) => [`NOTIFY_DLQ_URL_${c.env}_${p.env}`, dlqOf(c, p).ref]),
    );

    // ---------------------------------------------------------------- SES, FCM secret, alarm topic
    const configurationSet = new ses.CfnConfigurationSet(this, 'EmailConfigurationSet', {
      name: sesConfigurationSetName.valueAsString,
      reputationOptions: { reputationMetricsEnabled: true },
    });
    configurationSet.overrideLogicalId('EmailConfigurationSet');

    // SES publishes what becomes of each email sent with the configuration set to a topic, which
    // feeds the events queue (SNS's envelope kept: the function reads it).
    // Not encrypted, like the alarm topic: SES can publish to an encrypted topic only with a
    // customer managed KMS key whose policy lets SES use it (not the AWS managed aws/sns key).
    const sesEventsTopic = new sns.CfnTopic(this, 'SesEventsTopic', {});
    sesEventsTopic.overrideLogicalId('SesEventsTopic');
    const topicPolicy = new sns.CfnTopicPolicy(this, 'SesEventsTopicPolicy', {
      topics: [sesEventsTopic.ref],
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          // Only SES, and only for this account's configuration set (no confused deputy).
          {
            Sid: 'SesPublishes',
            Effect: 'Allow',
            Principal: { Service: 'ses.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: sesEventsTopic.ref,
            Condition: {
              StringEquals: {
                'aws:SourceAccount': cdk.Aws.ACCOUNT_ID,
                'aws:SourceArn': cdk.Fn.sub(
                  'arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}',
                ),
              },
            },
          },
        ],
      },
    });
    topicPolicy.overrideLogicalId('SesEventsTopicPolicy');
    const eventsDlq = new sqs.CfnQueue(this, 'EventsDeadLetterQueue', {
      messageRetentionPeriod: DLQ_RETENTION,
      sqsManagedSseEnabled: true,
    });
    eventsDlq.overrideLogicalId('EventsDeadLetterQueue');
    const eventsQueue = new sqs.CfnQueue(this, 'EventsQueue', {
      visibilityTimeout: EVENTS_VISIBILITY_TIMEOUT,
      messageRetentionPeriod: QUEUE_RETENTION,
      sqsManagedSseEnabled: true,
      redrivePolicy: { deadLetterTargetArn: eventsDlq.attrArn, maxReceiveCount: EVENTS_MAX_RECEIVES },
    });
    eventsQueue.overrideLogicalId('EventsQueue');
    // Where a stream batch goes that still failed after a day: Lambda's record of it (the shard
    // and the sequence numbers of its first and last records, not the records), kept 14 days.
    const changesDlq = new sqs.CfnQueue(this, 'ChangesDeadLetterQueue', {
      messageRetentionPeriod: DLQ_RETENTION,
      sqsManagedSseEnabled: true,
    });
    changesDlq.overrideLogicalId('ChangesDeadLetterQueue');
    // Status callbacks, queued by the changes function for the callbacks function; a callback
    // given up is put on the DLQ by the function itself (CALLBACKS_MAX_RECEIVES the backstop).
    const callbacksDlq = new sqs.CfnQueue(this, 'CallbacksDeadLetterQueue', {
      messageRetentionPeriod: DLQ_RETENTION,
      sqsManagedSseEnabled: true,
    });
    callbacksDlq.overrideLogicalId('CallbacksDeadLetterQueue');
    const callbacksQueue = new sqs.CfnQueue(this, 'CallbacksQueue', {
      visibilityTimeout: CALLBACKS_VISIBILITY_TIMEOUT,
      messageRetentionPeriod: CALLBACKS_RETENTION,
      sqsManagedSseEnabled: true,
      redrivePolicy: { deadLetterTargetArn: callbacksDlq.attrArn, maxReceiveCount: CALLBACKS_MAX_RECEIVES },
    });
    callbacksQueue.overrideLogicalId('CallbacksQueue');
    const queuePolicy = new sqs.CfnQueuePolicy(this, 'EventsQueuePolicy', {
      queues: [eventsQueue.ref],
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'SesEventsTopicSends',
            Effect: 'Allow',
            Principal: { Service: 'sns.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: eventsQueue.attrArn,
            Condition: { ArnEquals: { 'aws:SourceArn': sesEventsTopic.ref } },
          },
        ],
      },
    });
    queuePolicy.overrideLogicalId('EventsQueuePolicy');
    const subscription = new sns.CfnSubscription(this, 'SesEventsSubscription', {
      topicArn: sesEventsTopic.ref,
      protocol: 'sqs',
      endpoint: eventsQueue.attrArn,
      // The function reads SNS's envelope (the event is its Message).
      rawMessageDelivery: false,
    });
    subscription.overrideLogicalId('SesEventsSubscription');
    const eventDestination = new ses.CfnConfigurationSetEventDestination(this, 'EmailConfigurationSetEventDestination', {
      configurationSetName: configurationSet.ref,
      eventDestination: {
        enabled: true,
        snsDestination: { topicArn: sesEventsTopic.ref },
        matchingEventTypes: cdk.Token.asList(
          cdk.Fn.conditionIf(
            trackOpensAndClicks.logicalId,
            [...SES_EVENT_TYPES, ...SES_TRACKING_EVENT_TYPES],
            SES_EVENT_TYPES,
          ),
        ),
      },
    });
    eventDestination.overrideLogicalId('EmailConfigurationSetEventDestination');

    const fcmSecret = new secretsmanager.CfnSecret(this, 'FcmCredentialsSecret', {
      description: 'Firebase service-account key (JSON) for the push worker; put the key here after deploying.',
    });
    fcmSecret.overrideLogicalId('FcmCredentialsSecret');
    fcmSecret.cfnOptions.condition = createFcmSecret;
    const fcmSecretArn = cdk.Fn.conditionIf(
      createFcmSecret.logicalId,
      fcmSecret.ref,
      fcmCredentialsSecretArn.valueAsString,
    ).toString();

    const alarmTopic = new sns.CfnTopic(this, 'AlarmTopic', {});
    alarmTopic.overrideLogicalId('AlarmTopic');
    const alarmSubscription = new sns.CfnSubscription(this, 'AlarmTopicEmailSubscription', {
      topicArn: alarmTopic.ref,
      protocol: 'email',
      endpoint: alarmEmail.valueAsString,
    });
    alarmSubscription.overrideLogicalId('AlarmTopicEmailSubscription');
    alarmSubscription.cfnOptions.condition = hasAlarmEmail;

    // ---------------------------------------------------------------- log groups
    const logGroups = {} as Record<FunctionKey, logs.CfnLogGroup>;
    for (const key of Object.keys(FUNCTIONS) as FunctionKey[]) {
      logGroups[key] = new logs.CfnLogGroup(this, `${key}FunctionLogGroup`, {
        retentionInDays: logRetentionDays.valueAsNumber,
      });
      logGroups[key].overrideLogicalId(`${key}FunctionLogGroup`);
    }

    // ---------------------------------------------------------------- roles
    // What a channel's own statements and settings may refer to (CHANNELS).
    const context: ChannelContext = { parameters, configurationSet, fcmSecretArn };
    // Logs go to the function's own log group only (created above, so no logs:CreateLogGroup),
    // rather than AWSLambdaBasicExecutionRole's logs:* on every group of the account.
    const role = (key: FunctionKey, statements: iam.PolicyStatement[]) => {
      const logsStatement = statement(['logs:CreateLogStream', 'logs:PutLogEvents'], [logGroups[key].attrArn]);
      const r = new iam.Role(this, `${key}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        inlinePolicies: { [`${key}Policy`]: new iam.PolicyDocument({ statements: [logsStatement, ...statements] }) },
      });
      (r.node.defaultChild as iam.CfnRole).overrideLogicalId(`${key}Role`);
      return r;
    };
    const channelQueueArns = (c: Channel) => PRIORITIES.map((p) => queue(c, p).attrArn);

    const roles = {} as Record<FunctionKey, iam.Role>;
    roles.Api = role('Api', [
      statement([...TABLE_ACTIONS_RW, ...TABLE_ACTIONS_API], tableResources),
      statement(['sqs:SendMessage', 'sqs:GetQueueAttributes'], allQueueArns),
      statement(
        [
          'sqs:ReceiveMessage',
          'sqs:DeleteMessage',
          'sqs:GetQueueAttributes',
          'sqs:StartMessageMoveTask',
          'sqs:ListMessageMoveTasks',
        ],
        allDlqArns,
      ),
    ]);
    // Every worker: the table, its own three queues, then what only its channel needs.
    for (const c of CHANNELS) {
      roles[workerKey(c)] = role(workerKey(c), [
        statement(TABLE_ACTIONS_RW, tableResources),
        statement(WORKER_QUEUE_ACTIONS, channelQueueArns(c)),
        ...c.statements(context),
      ]);
    }
    roles.Cleanup = role('Cleanup', [
      statement(TABLE_ACTIONS_CLEANUP, tableResources),
      statement(['sqs:SendMessage'], allQueueArns),
      // The sweep looks into the DLQs (and shows the messages again at once) to mark the
      // notifications no invocation answered for.
      statement(['sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility'], allDlqArns),
    ]);
    // By key on the table; an SMS status names only SNS's message id, so its notification is
    // found in GSI4 (that index alone). An SMS status that came too early goes onto the events
    // queue, delayed; an asynchronous invocation (CloudWatch Logs') that kept failing goes to the
    // dead-letter queue (EventsInvokeConfig: Lambda sends it with this role).
    roles.Events = role('Events', [
      statement(TABLE_ACTIONS_EVENTS, [table.attrArn]),
      statement(['dynamodb:Query'], [cdk.Fn.sub('${NotificationsTable.Arn}/index/GSI4')]),
      statement(RETRYING_QUEUE_ACTIONS, [eventsQueue.attrArn]),
      statement(['sqs:SendMessage'], [eventsQueue.attrArn, eventsDlq.attrArn]),
    ]);
    // The table's stream, read by the mapping (ListStreams names a table, not a stream: the
    // table's streams, as SAM's DynamoDBStreamReadPolicy grants it); the counters, added with
    // TransactWriteItems, which IAM authorises as the actions in it (UpdateItem: no put or delete,
    // no index), and with the same UpdateItem routed sends moved on (a held step's due marker
    // replaced so the sweep releases it, or the step cancelled: conditional writes on notification
    // records); a batch given up, sent to the DLQ by Lambda with this role; status callbacks: a
    // tenant's subscriptions, read by key, each callback queued (the same GetItem reads, by key,
    // a route step's content item when cancelling the step answers with a record whose content
    // is kept apart).
    roles.Changes = role('Changes', [
      statement(STREAM_READ_ACTIONS, [table.attrStreamArn]),
      statement(['dynamodb:ListStreams'], [cdk.Fn.sub('${NotificationsTable.Arn}/stream/*')]),
      statement(['dynamodb:UpdateItem'], [table.attrArn]),
      statement(['sqs:SendMessage'], [changesDlq.attrArn]),
      statement(['dynamodb:GetItem'], [table.attrArn]),
      statement(['sqs:SendMessage'], [callbacksQueue.attrArn]),
    ]);
    // The tenant's signing secret read, the delivery records written (by key, no index); its
    // queue consumed and the retries delayed; a callback given up, sent to the DLQ at once.
    roles.Callbacks = role('Callbacks', [
      statement(['dynamodb:GetItem', 'dynamodb:UpdateItem'], [table.attrArn]),
      statement(RETRYING_QUEUE_ACTIONS, [callbacksQueue.attrArn]),
      statement(['sqs:SendMessage'], [callbacksDlq.attrArn]),
    ]);
    // The tenant's user token secret and a connection read by key, the connections put and
    // deleted, the inbox read (Query in the user's partition) and marked, the notification
    // acknowledged or read and its route's steps moved on: by key or partition, the table only
    // (no index, no scan, no queue). The marks' TransactWriteItems is authorised as the Put and
    // Update in it.
    roles.Realtime = role('Realtime', [statement(TABLE_ACTIONS_RW, [table.attrArn])]);

    // ---------------------------------------------------------------- functions
    const common = {
      NOTIFY_TABLE: table.ref,
      NOTIFY_METRICS_NAMESPACE: metricsNamespace.valueAsString,
      RUST_LOG: 'info',
    };
    const environments = {} as Record<FunctionKey, Record<string, string>>;
    environments.Api = {
      ...common,
      NOTIFY_API_KEYS: apiKeys.valueAsString,
      NOTIFY_ADMIN_KEYS: adminKeys.valueAsString,
      NOTIFY_RETENTION_DAYS: retentionDays.valueAsString,
      // The limits of a tenant that has none of its own in the table.
      NOTIFY_REQUESTS_PER_MINUTE: requestsPerMinute.valueAsString,
      // One user's token (an app's inbox, marks and read acknowledgements), apart from its tenant's.
      NOTIFY_USER_REQUESTS_PER_MINUTE: userRequestsPerMinute.valueAsString,
      NOTIFY_DAILY_QUOTA_PER_CHANNEL: dailyQuotaPerChannel.valueAsString,
      // How long audit trail entries are kept.
      NOTIFY_AUDIT_RETENTION_DAYS: auditRetentionDays.valueAsString,
      ...queueUrlEnv,
      ...dlqUrlEnv,
    };
    for (const c of CHANNELS) {
      environments[workerKey(c)] = {
        ...common,
        ...c.environment(context),
        NOTIFY_MAX_RECEIVES: maxReceives.valueAsString,
      };
    }
    environments.Cleanup = { ...common, ...queueUrlEnv, ...dlqUrlEnv };
    environments.Events = {
      ...common,
      NOTIFY_RETENTION_DAYS: retentionDays.valueAsString,
      // The code's default, which the API and the cleanup use too (no parameter sets it).
      NOTIFY_MAX_DELIVERY_HOURS: '24',
      NOTIFY_EVENTS_RETRY_BASE_SECONDS: '10',
      NOTIFY_EVENTS_RETRY_MAX_SECONDS: '120',
      // Where an SMS status that came too early is put back, delayed.
      NOTIFY_EVENTS_QUEUE_ARN: eventsQueue.attrArn,
    };
    // It reads the store's settings, as every function of the table does.
    environments.Changes = {
      ...common,
      NOTIFY_RETENTION_DAYS: retentionDays.valueAsString,
      NOTIFY_MAX_DELIVERY_HOURS: '24',
      // Where the status callbacks of a batch's changes are queued.
      NOTIFY_CALLBACKS_QUEUE_URL: callbacksQueue.ref,
    };
    environments.Callbacks = {
      ...common,
      NOTIFY_RETENTION_DAYS: retentionDays.valueAsString,
      // Where a callback given up (refused, or failing for CallbackRetryHours) is put.
      NOTIFY_CALLBACKS_DLQ_URL: callbacksDlq.ref,
      NOTIFY_CALLBACK_RETRY_HOURS: callbackRetryHours.valueAsString,
      NOTIFY_CALLBACK_TIMEOUT_SECONDS: String(CALLBACK_TIMEOUT_SECONDS),
    };
    // It reads the store's settings, as every function of the table does.
    environments.Realtime = {
      ...common,
      NOTIFY_RETENTION_DAYS: retentionDays.valueAsString,
      NOTIFY_MAX_DELIVERY_HOURS: '24',
    };

    const functions = {} as Record<FunctionKey, lambda.Function>;
    for (const key of Object.keys(FUNCTIONS) as FunctionKey[]) {
      const spec = FUNCTIONS[key];
      const fn = new RustFunction(this, `${key}Function`, {
        manifestPath: MANIFEST_PATH,
        binaryName: spec.binary,
        description: spec.description,
        architecture: lambda.Architecture.ARM_64,
        runtime: 'provided.al2023',
        memorySize: spec.memory,
        timeout: cdk.Duration.seconds(spec.timeout),
        role: roles[key],
        environment: environments[key],
      });
      const cfn = fn.node.defaultChild as lambda.CfnFunction;
      cfn.overrideLogicalId(`${key}Function`);
      cfn.addPropertyOverride('LoggingConfig', { LogGroup: logGroups[key].ref });
      // What builds this function, in SAM's words (template.yaml has the same): lets the parity
      // check and `sam build` against the synthesised template find the binary.
      cfn.addMetadata('BuildMethod', 'rust-cargolambda');
      cfn.addMetadata('BuildProperties', { Binary: spec.binary });
      functions[key] = fn;
    }

    // ---------------------------------------------------------------- event source mappings
    for (const [c, p] of pairs()) {
      const mapping = new lambda.CfnEventSourceMapping(this, mappingId(c, p), {
        eventSourceArn: queue(c, p).attrArn,
        functionName: functions[workerKey(c)].functionName,
        batchSize: BATCH_SIZE,
        functionResponseTypes: ['ReportBatchItemFailures'],
        maximumBatchingWindowInSeconds: p.batchingWindow,
        scalingConfig: { maximumConcurrency: p.maxConcurrency },
      });
      mapping.overrideLogicalId(mappingId(c, p));
    }
    const eventsMapping = new lambda.CfnEventSourceMapping(this, 'EventsMapping', {
      eventSourceArn: eventsQueue.attrArn,
      functionName: functions.Events.functionName,
      batchSize: BATCH_SIZE,
      functionResponseTypes: ['ReportBatchItemFailures'],
    });
    eventsMapping.overrideLogicalId('EventsMapping');
    // CloudWatch Logs invokes the events function asynchronously: a batch of SMS statuses that
    // still fails after two retries goes to the events dead-letter queue, which
    // EventsDeadLetterAlarm watches (Lambda's record of the invocation, the statuses in its
    // requestPayload: not an event to redrive as it is).
    const eventsInvokeConfig = new lambda.CfnEventInvokeConfig(this, 'EventsInvokeConfig', {
      functionName: functions.Events.functionName,
      qualifier: '$LATEST',
      maximumRetryAttempts: 2,
      destinationConfig: { onFailure: { destination: eventsDlq.attrArn } },
    });
    eventsInvokeConfig.overrideLogicalId('EventsInvokeConfig');
    // The table's stream, in order, to the changes function (CHANGES_MAPPING): only the records
    // it acts on (CHANGES_STREAM_FILTER).
    const changesMapping = new lambda.CfnEventSourceMapping(this, 'ChangesMapping', {
      eventSourceArn: table.attrStreamArn,
      functionName: functions.Changes.functionName,
      filterCriteria: { filters: [{ pattern: CHANGES_STREAM_FILTER }] },
      ...CHANGES_MAPPING,
      destinationConfig: { onFailure: { destination: changesDlq.attrArn } },
    });
    changesMapping.overrideLogicalId('ChangesMapping');
    const callbacksMapping = new lambda.CfnEventSourceMapping(this, 'CallbacksMapping', {
      eventSourceArn: callbacksQueue.attrArn,
      functionName: functions.Callbacks.functionName,
      batchSize: BATCH_SIZE,
      functionResponseTypes: ['ReportBatchItemFailures'],
      // A burst of callbacks must not take the account's concurrency from the workers.
      scalingConfig: { maximumConcurrency: CALLBACKS_MAX_CONCURRENCY },
    });
    callbacksMapping.overrideLogicalId('CallbacksMapping');

    // ---------------------------------------------------------------- SMS delivery statuses
    // SNS logs each SMS's status to two groups of its own naming (per account and region: one
    // stack per account and region has them; https://docs.aws.amazon.com/sns/latest/dg/sms_stats_cloudwatch.html),
    // and a subscription on each hands every record to the events function. The groups are made
    // here, with the stack's retention, before the logging is turned on: SNS would otherwise
    // create them itself (without retention) and this stack could not.
    const smsStatusLogGroup = (id: string, name: string) => {
      const g = new logs.CfnLogGroup(this, id, {
        logGroupName: cdk.Fn.sub(name),
        retentionInDays: logRetentionDays.valueAsNumber,
      });
      g.overrideLogicalId(id);
      return g;
    };
    const smsStatusGroups = [
      smsStatusLogGroup('SmsDeliveryStatusLogGroup', SMS_STATUS_LOG_GROUP_NAME),
      smsStatusLogGroup('SmsDeliveryStatusFailureLogGroup', SMS_STATUS_FAILURE_LOG_GROUP_NAME),
    ];
    const smsStatusGroupsArn = cdk.Fn.sub(SMS_STATUS_LOG_GROUPS_ARN);
    // What SNS writes the statuses with: the two groups only, for this account only.
    const smsStatusRole = new iam.Role(this, 'SmsDeliveryStatusRole', {
      assumedBy: new iam.ServicePrincipal('sns.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': cdk.Aws.ACCOUNT_ID },
      }),
      inlinePolicies: {
        SmsDeliveryStatusPolicy: new iam.PolicyDocument({
          statements: [statement(SMS_STATUS_LOGS_ACTIONS, [smsStatusGroupsArn])],
        }),
      },
    });
    (smsStatusRole.node.defaultChild as iam.CfnRole).overrideLogicalId('SmsDeliveryStatusRole');

    // The logging itself is an account-level SNS setting (SetSMSAttributes), per region, that no
    // CloudFormation resource type manages: a small custom resource sets it. Inline Python on
    // purpose (the cfnresponse module comes with inline code; nothing to build). Deleting the
    // stack turns the logging off.
    const loggingLogGroup = new logs.CfnLogGroup(this, 'SmsDeliveryStatusLoggingFunctionLogGroup', {
      retentionInDays: logRetentionDays.valueAsNumber,
    });
    loggingLogGroup.overrideLogicalId('SmsDeliveryStatusLoggingFunctionLogGroup');
    const loggingRole = new iam.Role(this, 'SmsDeliveryStatusLoggingRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      inlinePolicies: {
        SmsDeliveryStatusLoggingPolicy: new iam.PolicyDocument({
          statements: [
            statement(['logs:CreateLogStream', 'logs:PutLogEvents'], [loggingLogGroup.attrArn]),
            // SetSMSAttributes has no resource to scope to (SNS's requirement: "*").
            statement(['sns:SetSMSAttributes'], ['*']),
            statement(['iam:PassRole'], [smsStatusRole.roleArn]),
          ],
        }),
      },
    });
    (loggingRole.node.defaultChild as iam.CfnRole).overrideLogicalId('SmsDeliveryStatusLoggingRole');
    const loggingFunction = new lambda.Function(this, 'SmsDeliveryStatusLoggingFunction', {
      description: "Turns SNS's SMS delivery status logging on (stack created or updated) and off (stack deleted)",
      runtime: lambda.Runtime.PYTHON_3_12,
      handler: 'index.handler',
      code: lambda.Code.fromInline(SMS_DELIVERY_STATUS_LOGGING_CODE),
      architecture: lambda.Architecture.ARM_64,
      memorySize: 128,
      timeout: cdk.Duration.seconds(60),
      role: loggingRole,
    });
    const loggingCfn = loggingFunction.node.defaultChild as lambda.CfnFunction;
    loggingCfn.overrideLogicalId('SmsDeliveryStatusLoggingFunction');
    loggingCfn.addPropertyOverride('LoggingConfig', { LogGroup: loggingLogGroup.ref });

    // Every record of both groups (an empty pattern) goes to the events function.
    const logsPermission = new lambda.CfnPermission(this, 'EventsLogsPermission', {
      action: 'lambda:InvokeFunction',
      functionName: functions.Events.functionName,
      principal: 'logs.amazonaws.com',
      sourceArn: smsStatusGroupsArn,
      sourceAccount: cdk.Aws.ACCOUNT_ID,
    });
    logsPermission.overrideLogicalId('EventsLogsPermission');
    const smsStatusSubscriptions = (
      [
        ['SmsDeliveryStatusSubscription', smsStatusGroups[0]],
        ['SmsDeliveryStatusFailureSubscription', smsStatusGroups[1]],
      ] as const
    ).map(([id, group]) => {
      const f = new logs.CfnSubscriptionFilter(this, id, {
        logGroupName: group.ref,
        filterPattern: '',
        destinationArn: functions.Events.functionArn,
      });
      f.overrideLogicalId(id);
      // CloudWatch Logs checks it may invoke the function when the filter is created.
      f.addResourceDependency(logsPermission);
      return f;
    });
    const smsStatusLogging = new cdk.CustomResource(this, 'SmsDeliveryStatusLogging', {
      resourceType: 'Custom::SmsDeliveryStatusLogging',
      serviceToken: loggingFunction.functionArn,
      properties: {
        DeliveryStatusIAMRole: smsStatusRole.roleArn,
        DeliveryStatusSuccessSamplingRate: smsDeliveryStatusSamplingRate.valueAsString,
      },
    });
    (smsStatusLogging.node.defaultChild as cdk.CfnResource).overrideLogicalId('SmsDeliveryStatusLogging');
    // On once the groups and their subscriptions exist (no status lost, no group SNS made); off
    // first when the stack is deleted.
    for (const f of smsStatusSubscriptions) smsStatusLogging.node.addDependency(f);

    // ---------------------------------------------------------------- HTTP API
    const httpApi = new apigwv2.CfnApi(this, 'HttpApi', {
      name: cdk.Fn.sub('${AWS::StackName}-api'),
      protocolType: 'HTTP',
    });
    httpApi.overrideLogicalId('HttpApi');
    const integration = new apigwv2.CfnIntegration(this, 'HttpApiIntegration', {
      apiId: httpApi.ref,
      integrationType: 'AWS_PROXY',
      integrationUri: functions.Api.functionArn,
      payloadFormatVersion: '2.0',
    });
    integration.overrideLogicalId('HttpApiIntegration');
    const route = new apigwv2.CfnRoute(this, 'HttpApiDefaultRoute', {
      apiId: httpApi.ref,
      routeKey: '$default',
      target: cdk.Fn.sub('integrations/${HttpApiIntegration}'),
    });
    route.overrideLogicalId('HttpApiDefaultRoute');
    const accessLogs = new logs.CfnLogGroup(this, 'HttpApiAccessLogs', {
      retentionInDays: logRetentionDays.valueAsNumber,
    });
    accessLogs.overrideLogicalId('HttpApiAccessLogs');
    const stage = new apigwv2.CfnStage(this, 'HttpApiStage', {
      apiId: httpApi.ref,
      stageName: '$default',
      autoDeploy: true,
      defaultRouteSettings: {
        throttlingRateLimit: apiThrottleRateLimit.valueAsNumber,
        throttlingBurstLimit: apiThrottleBurstLimit.valueAsNumber,
      },
      accessLogSettings: {
        destinationArn: accessLogs.attrArn,
        format: JSON.stringify({
          requestId: '$context.requestId',
          ip: '$context.identity.sourceIp',
          requestTime: '$context.requestTime',
          method: '$context.httpMethod',
          path: '$context.path',
          status: '$context.status',
          protocol: '$context.protocol',
          responseLength: '$context.responseLength',
          latency: '$context.responseLatency',
          integrationLatency: '$context.integrationLatency',
          integrationError: '$context.integrationErrorMessage',
        }),
      },
    });
    stage.overrideLogicalId('HttpApiStage');
    const apiPermission = new lambda.CfnPermission(this, 'ApiFunctionInvokePermission', {
      action: 'lambda:InvokeFunction',
      functionName: functions.Api.functionName,
      principal: 'apigateway.amazonaws.com',
      sourceArn: cdk.Fn.sub('arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*'),
    });
    apiPermission.overrideLogicalId('ApiFunctionInvokePermission');

    // ---------------------------------------------------------------- WebSocket API
    // Users' apps: every route goes to the realtime function, which keeps the connections (items
    // in the user's partition, where the in-app worker finds them, with a TTL of API Gateway's 2
    // hours) and answers the client's messages. API Gateway closes a connection after 2 hours, or
    // after 10 minutes without a message (the client pings).
    const webSocketApi = new apigwv2.CfnApi(this, 'WebSocketApi', {
      name: cdk.Fn.sub('${AWS::StackName}-realtime'),
      protocolType: 'WEBSOCKET',
      // A message {"action": "ack" | "seen" | "read" | "ping", ...} goes to its route; any other
      // to $default (the function answers it with an error).
      routeSelectionExpression: '$request.body.action',
    });
    webSocketApi.overrideLogicalId('WebSocketApi');
    // A WebSocket API takes the function's invocation URI (not its ARN, as the HTTP API does).
    const webSocketIntegration = new apigwv2.CfnIntegration(this, 'WebSocketIntegration', {
      apiId: webSocketApi.ref,
      integrationType: 'AWS_PROXY',
      integrationUri: cdk.Fn.sub(
        'arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${RealtimeFunction.Arn}/invocations',
      ),
    });
    webSocketIntegration.overrideLogicalId('WebSocketIntegration');
    // No API Gateway authoriser: $connect authenticates the user's token itself (`?token=`, or
    // the second Sec-WebSocket-Protocol) and refuses the connection without a valid one; the
    // other routes only serve connections it accepted.
    const webSocketRoute = (id: string, routeKey: string, twoWay: boolean) => {
      const r = new apigwv2.CfnRoute(this, `WebSocket${id}Route`, {
        apiId: webSocketApi.ref,
        routeKey,
        authorizationType: 'NONE',
        routeResponseSelectionExpression: twoWay ? '$default' : undefined,
        target: cdk.Fn.sub('integrations/${WebSocketIntegration}'),
      });
      r.overrideLogicalId(`WebSocket${id}Route`);
      return r;
    };
    webSocketRoute('Connect', '$connect', false);
    webSocketRoute('Disconnect', '$disconnect', false);
    // The message routes are two-way: the function's answer (its body) goes back to the client
    // on the same connection, through each route's $default route response.
    for (const [id, routeKey] of Object.entries(WEBSOCKET_MESSAGE_ROUTES)) {
      const r = webSocketRoute(id, routeKey, true);
      const response = new apigwv2.CfnRouteResponse(this, `WebSocket${id}RouteResponse`, {
        apiId: webSocketApi.ref,
        routeId: r.ref,
        routeResponseKey: '$default',
      });
      response.overrideLogicalId(`WebSocket${id}RouteResponse`);
    }
    // Throttled like the HTTP API's stage (connections and messages per second). No access logs:
    // a WebSocket stage can log only once the account's API Gateway settings name a CloudWatch
    // Logs role (an account-wide setting this stack does not own); the function logs every event.
    const webSocketStage = new apigwv2.CfnStage(this, 'WebSocketStage', {
      apiId: webSocketApi.ref,
      stageName: WEBSOCKET_STAGE,
      autoDeploy: true,
      defaultRouteSettings: {
        throttlingRateLimit: apiThrottleRateLimit.valueAsNumber,
        throttlingBurstLimit: apiThrottleBurstLimit.valueAsNumber,
      },
    });
    webSocketStage.overrideLogicalId('WebSocketStage');
    const realtimePermission = new lambda.CfnPermission(this, 'RealtimeFunctionInvokePermission', {
      action: 'lambda:InvokeFunction',
      functionName: functions.Realtime.functionName,
      principal: 'apigateway.amazonaws.com',
      sourceArn: cdk.Fn.sub(`${WEBSOCKET_API_ARN}/*`),
    });
    realtimePermission.overrideLogicalId('RealtimeFunctionInvokePermission');

    // ---------------------------------------------------------------- schedules
    const schedule = (name: 'Sweep' | 'Purge', expression: string, description: string) => {
      const rule = new events.CfnRule(this, `Cleanup${name}Schedule`, {
        description,
        scheduleExpression: expression,
        state: 'ENABLED',
        targets: [
          {
            id: 'cleanup',
            arn: functions.Cleanup.functionArn,
            input: JSON.stringify({ task: name.toLowerCase() }),
          },
        ],
      });
      rule.overrideLogicalId(`Cleanup${name}Schedule`);
      const permission = new lambda.CfnPermission(this, `Cleanup${name}Permission`, {
        action: 'lambda:InvokeFunction',
        functionName: functions.Cleanup.functionName,
        principal: 'events.amazonaws.com',
        sourceArn: rule.attrArn,
      });
      permission.overrideLogicalId(`Cleanup${name}Permission`);
    };
    schedule('Sweep', 'rate(1 minute)', 'Release due scheduled notifications, re-enqueue, expire stuck ones');
    schedule('Purge', 'rate(1 hour)', 'Purge records past their retention, old idempotency keys and idle devices');

    // ---------------------------------------------------------------- alarms
    // Every alarm tells the topic when it fires and when it is over.
    const alarm = (id: string, props: Omit<cloudwatch.CfnAlarmProps, 'alarmActions' | 'okActions'>) => {
      const a = new cloudwatch.CfnAlarm(this, id, {
        ...props,
        alarmActions: [alarmTopic.ref],
        okActions: [alarmTopic.ref],
        treatMissingData: 'notBreaching',
      });
      a.overrideLogicalId(id);
      return a;
    };
    for (const [c, p] of pairs()) {
      const priority = p.id.toLowerCase();
      alarm(`${c.id}${p.id}DeadLetterQueueAlarm`, {
        alarmDescription: `A ${c.lower} ${priority}-priority message was dead-lettered: see its notification's error, then redrive`,
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        dimensions: [{ name: 'QueueName', value: dlqOf(c, p).attrQueueName }],
        statistic: 'Maximum',
        period: 60,
        evaluationPeriods: 1,
        threshold: 0,
        comparisonOperator: 'GreaterThanThreshold',
      });
      alarm(`${c.id}${p.id}QueueAgeAlarm`, {
        alarmDescription: `The ${c.lower} ${priority}-priority queue is falling behind`,
        namespace: 'AWS/SQS',
        metricName: 'ApproximateAgeOfOldestMessage',
        dimensions: [{ name: 'QueueName', value: queue(c, p).attrQueueName }],
        statistic: 'Maximum',
        period: 60,
        evaluationPeriods: 5,
        threshold: queueAgeAlarmSeconds.valueAsNumber,
        comparisonOperator: 'GreaterThanThreshold',
      });
    }
    /** `100 * part / whole` in percent (0 without traffic), per minute. */
    const percentage = (
      label: string,
      namespace: string,
      dimensions: cloudwatch.CfnAlarm.DimensionProperty[],
      part: { id: string; metricName: string },
      whole: { id: string; metricName: string },
    ): cloudwatch.CfnAlarm.MetricDataQueryProperty[] => [
      {
        id: 'rate',
        label,
        expression: `IF(${whole.id} > 0, 100 * ${part.id} / ${whole.id}, 0)`,
        returnData: true,
      },
      ...[part, whole].map((m) => ({
        id: m.id,
        returnData: false,
        metricStat: { metric: { namespace, metricName: m.metricName, dimensions }, period: 60, stat: 'Sum' },
      })),
    ];
    const errorRateAlarm = (key: FunctionKey, what: string) =>
      alarm(`${key}ErrorRateAlarm`, {
        alarmDescription: `More than 5% of the ${what}'s invocations failed`,
        metrics: percentage(
          'error rate (%)',
          'AWS/Lambda',
          [{ name: 'FunctionName', value: functions[key].functionName }],
          { id: 'errors', metricName: 'Errors' },
          { id: 'invocations', metricName: 'Invocations' },
        ),
        evaluationPeriods: 5,
        threshold: 5,
        comparisonOperator: 'GreaterThanThreshold',
      });
    for (const c of CHANNELS) errorRateAlarm(workerKey(c), `${c.lower} worker`);
    errorRateAlarm('Events', 'events function');
    alarm('EventsDeadLetterAlarm', {
      alarmDescription:
        "An SES event or SMS status was dead-lettered (its notification never showed as sent, or the table kept failing): see the events function's logs, then redrive",
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: [{ name: 'QueueName', value: eventsDlq.attrQueueName }],
      statistic: 'Maximum',
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
    });
    // The stats counters: a batch dropped, the function failing, the stream not kept up with.
    alarm('ChangesDeadLetterAlarm', {
      alarmDescription:
        "A batch of the table's stream was given up after a day of failed retries: its status changes are missing from the stats counters (the message names the shard and sequence numbers); see the changes function's logs",
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: [{ name: 'QueueName', value: changesDlq.attrQueueName }],
      statistic: 'Maximum',
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
    });
    errorRateAlarm('Changes', 'changes function');
    alarm('ChangesIteratorAgeAlarm', {
      alarmDescription:
        "The changes function is more than 5 minutes behind the table's stream: the stats lag (a batch failing and retried, or throttled)",
      namespace: 'AWS/Lambda',
      metricName: 'IteratorAge',
      dimensions: [{ name: 'FunctionName', value: functions.Changes.functionName }],
      statistic: 'Maximum',
      period: 300,
      evaluationPeriods: 3,
      threshold: CHANGES_MAX_ITERATOR_AGE_MS,
      comparisonOperator: 'GreaterThanThreshold',
    });
    // Status callbacks: one given up, the function failing.
    alarm('CallbacksDeadLetterAlarm', {
      alarmDescription:
        "A status callback was given up (the client's URL refused it or kept failing for CallbackRetryHours): GET /v1/callbacks/deliveries?status=failed, then redrive",
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: [{ name: 'QueueName', value: callbacksDlq.attrQueueName }],
      statistic: 'Maximum',
      period: 60,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
    });
    errorRateAlarm('Callbacks', 'callbacks function');
    // The WebSocket API's function failing (crashed or timed out: the answers it refuses are not
    // errors).
    errorRateAlarm('Realtime', 'realtime function');
    alarm('ApiServerErrorRateAlarm', {
      alarmDescription: 'More than 1% of API requests answered 5xx',
      metrics: percentage(
        '5xx rate (%)',
        'AWS/ApiGateway',
        [{ name: 'ApiId', value: httpApi.ref }],
        { id: 'errors', metricName: '5xx' },
        { id: 'requests', metricName: 'Count' },
      ),
      evaluationPeriods: 5,
      threshold: 1,
      comparisonOperator: 'GreaterThanThreshold',
    });
    alarm('SesBounceRateAlarm', {
      alarmDescription:
        "The account's SES bounce rate is above 5% (SES reviews accounts at 5% and may pause sending at 10%)",
      namespace: 'AWS/SES',
      metricName: 'Reputation.BounceRate',
      statistic: 'Maximum',
      period: 900,
      evaluationPeriods: 1,
      threshold: 0.05,
      comparisonOperator: 'GreaterThanThreshold',
    });

    // ---------------------------------------------------------------- dashboard
    // Eight rows under a title: API, queues, functions, deliveries (the service's EMF metrics,
    // which the functions publish by Channel and by Channel+Priority), receipts (the events
    // function's counts, by Function, and its queue), SNS's SMS delivery status log groups, the
    // stats counters (the changes function's counts, its IteratorAge, its DLQ), status callbacks
    // (the callbacks function's counts and the changes function's, its queue and DLQ).
    const metric = (namespace: string, metricName: string, dimensionsMap: Record<string, string>, statistic: string, label: string) =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap, statistic, label, period: cdk.Duration.minutes(1) });
    const graph = (title: string, left: cloudwatch.IMetric[], width: number) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6, period: cdk.Duration.minutes(1) });
    const apiDims = { ApiId: httpApi.ref };
    const ns = metricsNamespace.valueAsString;
    const perChannel = (metricName: string, statistic: string) =>
      CHANNELS.map((c) => metric(ns, metricName, { Channel: c.lower }, statistic, c.lower));
    const perQueue = (metricName: string, of: (c: Channel, p: Priority) => sqs.CfnQueue) =>
      pairs().map(([c, p]) =>
        metric('AWS/SQS', metricName, { QueueName: of(c, p).attrQueueName }, 'Maximum', `${c.lower} ${p.id.toLowerCase()}`),
      );
    const functionOrder: FunctionKey[] = [
      ...CHANNELS.map(workerKey),
      'Api',
      'Cleanup',
      'Events',
      'Changes',
      'Callbacks',
      'Realtime',
    ];
    const queueMetric = (metricName: string, q: sqs.CfnQueue, label: string) =>
      metric('AWS/SQS', metricName, { QueueName: q.attrQueueName }, 'Maximum', label);
    const perFunction = (metricName: string, statistic: string) =>
      functionOrder.map((k) => metric('AWS/Lambda', metricName, { FunctionName: functions[k].functionName }, statistic, k));

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: cdk.Fn.sub('${AWS::StackName}-notify'),
      widgets: [
        [new cloudwatch.TextWidget({ markdown: '## notify: API, queues, workers and deliveries', width: 24, height: 1 })],
        [
          graph(
            'API requests',
            [
              metric('AWS/ApiGateway', 'Count', apiDims, 'Sum', 'requests'),
              metric('AWS/ApiGateway', '4xx', apiDims, 'Sum', '4xx'),
              metric('AWS/ApiGateway', '5xx', apiDims, 'Sum', '5xx'),
            ],
            8,
          ),
          graph(
            'API latency',
            [
              metric('AWS/ApiGateway', 'Latency', apiDims, 'p50', 'p50'),
              metric('AWS/ApiGateway', 'Latency', apiDims, 'p99', 'p99'),
            ],
            8,
          ),
          graph('Notifications accepted', perChannel('Accepted', 'Sum'), 8),
        ],
        [
          graph('Queue depth', perQueue('ApproximateNumberOfMessagesVisible', queue), 8),
          graph('Age of oldest message (s)', perQueue('ApproximateAgeOfOldestMessage', queue), 8),
          graph('Dead-letter queue depth', perQueue('ApproximateNumberOfMessagesVisible', dlqOf), 8),
        ],
        [
          graph('Invocations', perFunction('Invocations', 'Sum'), 6),
          graph('Errors', perFunction('Errors', 'Sum'), 6),
          graph('Throttles', perFunction('Throttles', 'Sum'), 6),
          graph('Duration p99 (ms)', perFunction('Duration', 'p99'), 6),
        ],
        [
          graph('Sent per channel', perChannel('Sent', 'Sum'), 6),
          graph('Failed per channel', perChannel('Failed', 'Sum'), 6),
          graph('Suppressed per channel', perChannel('Suppressed', 'Sum'), 6),
          graph('Provider latency p99 (ms)', perChannel('ProviderLatency', 'p99'), 6),
        ],
        [
          graph(
            'Receipts: SES events and SMS statuses',
            EVENT_OUTCOMES.map((name) => metric(ns, name, { Function: 'events' }, 'Sum', name)),
            12,
          ),
          graph(
            'Events queue: age of oldest message (s)',
            [queueMetric('ApproximateAgeOfOldestMessage', eventsQueue, 'events')],
            6,
          ),
          graph(
            'Events queue depth',
            [
              queueMetric('ApproximateNumberOfMessagesVisible', eventsQueue, 'queue'),
              queueMetric('ApproximateNumberOfMessagesVisible', eventsDlq, 'dead-letter queue'),
            ],
            6,
          ),
        ],
        // What SNS logged (the records the subscriptions hand to the events function).
        [
          graph(
            'SMS delivery statuses logged',
            [
              metric('AWS/Logs', 'IncomingLogEvents', { LogGroupName: smsStatusGroups[0].ref }, 'Sum', 'successes'),
              metric('AWS/Logs', 'IncomingLogEvents', { LogGroupName: smsStatusGroups[1].ref }, 'Sum', 'failures'),
            ],
            12,
          ),
        ],
        // The stats counters: what the changes function counted, and how far behind the table's
        // stream it is (the stats' lag; ChangesIteratorAgeAlarm at 5 minutes).
        [
          graph(
            'Stats: stream records and status changes counted',
            CHANGES_COUNTS.map((name) => metric(ns, name, { Function: 'changes' }, 'Sum', name)),
            12,
          ),
          graph(
            'Stats lag: stream iterator age (ms)',
            [metric('AWS/Lambda', 'IteratorAge', { FunctionName: functions.Changes.functionName }, 'Maximum', 'changes')],
            6,
          ),
          graph(
            'Stats: batches given up (dead-letter queue)',
            [queueMetric('ApproximateNumberOfMessagesVisible', changesDlq, 'dead-letter queue')],
            6,
          ),
        ],
        // Status callbacks: queued by the changes function, then delivered, retried or failed by
        // the callbacks function; its queue's age and depth, and those given up (its DLQ).
        [
          graph(
            'Status callbacks',
            [
              metric(ns, CALLBACKS_QUEUED, { Function: 'changes' }, 'Sum', CALLBACKS_QUEUED),
              ...CALLBACK_OUTCOMES.map((name) => metric(ns, name, { Function: 'callbacks' }, 'Sum', name)),
            ],
            12,
          ),
          graph(
            'Callbacks queue: age of oldest message (s)',
            [queueMetric('ApproximateAgeOfOldestMessage', callbacksQueue, 'callbacks')],
            6,
          ),
          graph(
            'Callbacks queue depth',
            [
              queueMetric('ApproximateNumberOfMessagesVisible', callbacksQueue, 'queue'),
              queueMetric('ApproximateNumberOfMessagesVisible', callbacksDlq, 'dead-letter queue'),
            ],
            6,
          ),
        ],
      ],
    });
    const cfnDashboard = dashboard.node.defaultChild as cloudwatch.CfnDashboard;
    cfnDashboard.overrideLogicalId('Dashboard');

    // ---------------------------------------------------------------- outputs
    const output = (id: string, value: string, description: string) =>
      new cdk.CfnOutput(this, `Output${id}`, { value, description }).overrideLogicalId(id);
    output('ApiUrl', cdk.Fn.sub('https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}'), 'Base URL of the API (append /v1/notifications)');
    output(
      'WebSocketUrl',
      cdk.Fn.sub('wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}'),
      "The WebSocket API users' apps connect to (with ?token=<user token>)",
    );
    output('TableName', table.ref, 'The DynamoDB table');
    output('AlarmTopicArn', alarmTopic.ref, "The operators' alarm topic");
    output('DashboardName', cfnDashboard.ref, 'The CloudWatch dashboard');
    output('FcmCredentialsSecretArn', fcmSecretArn, 'The secret to put the Firebase service-account key in');
    cdk.Validations.of(this).acknowledge({
      id: 'CloudFormation-Validate::W1001',
      reason: 'FcmCredentialsSecret is only referenced in the CreateFcmSecret branch of a Fn::If',
    });
  }
}
