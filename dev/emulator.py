"""The local AWS-API emulator: moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically, and the workers rely on it: of two
deliveries of one message, only one may claim the notification. moto's stock server handles
requests on parallel threads without locking its backends, so two concurrent conditional
updates of one item can both succeed. Serialising the requests restores the guarantee.
(It also means: never long-poll SQS against it; a waiting ReceiveMessage would hold the lock.)

SES's event publishing, which moto lacks, is emulated for the mailbox simulator: a configuration
set's SNS event destination (CreateConfigurationSetEventDestination, v2) is kept here, and an email
sent with that configuration set to one of the simulator's addresses publishes to the topic, about
a second later, the events SES publishes for it (the same addresses do the same on real SES,
https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html#send-email-simulator):
  success@simulator.amazonses.com         Delivery
  bounce@simulator.amazonses.com          Bounce (Permanent, General)
  complaint@simulator.amazonses.com       Delivery, then Complaint (abuse)
  suppressionlist@simulator.amazonses.com Bounce (Permanent, OnAccountSuppressionList)
  ooto@simulator.amazonses.com            Delivery (the auto-reply goes to the sender)
A `+label` before the @ is allowed, as on SES. Other addresses publish nothing.

SNS's SMS delivery status logging is emulated the same way for End User Messaging SMS's
documented destination simulator numbers: once SetSMSAttributes has set a DeliveryStatusIAMRole,
an SMS to +33755512501 (success) or +33755512502 (failure) is followed, about a second later, by
the record SNS writes to CloudWatch Logs (sns/<region>/<account>/DirectPublishToPhoneNumber, and
.../Failure), https://docs.aws.amazon.com/sns/latest/dg/sms_stats_cloudwatch.html.

Besides the AWS APIs it answers:
  GET /_notify/health              at once, even while a request is being served
  GET /_notify/outbox/email[?to=]  the emails SES accepted, oldest first
  GET /_notify/outbox/sms[?to=]    the SMS SNS accepted, oldest first
(moto's own /moto-api/data.json dumps every model of every service, which grows slow as the
state grows; these read only what they need.)

It also spares moto's SQS some work it does per message: to send one message, moto builds
every attribute of the queue, counting all its messages three times over, only to read
`ContentBasedDeduplication`. On a queue holding n messages a send costs O(n), and a batch of
10,000 recipients takes many minutes. Sends here build the attributes without the counts;
GetQueueAttributes counts only when a count is asked for, once per call rather than once
per attribute; and "now" is read without building a datetime for every message of a queue.

usage: python dev/emulator.py [--host 127.0.0.1] [--port 4566]
"""

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.logs.models import logs_backends
from moto.ses.models import ses_backends
from moto.sns import models as sns_models
from moto.sns.models import sns_backends
from moto.sqs import models as sqs_models
from werkzeug.serving import run_simple

COUNTS = {
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
}
full_attributes = sqs_models.Queue.attributes.fget
sending = threading.local()


def attributes_without_counts(queue):
    queue.BASE_ATTRIBUTES = [a for a in type(queue).BASE_ATTRIBUTES if a not in COUNTS]
    try:
        return full_attributes(queue)
    finally:
        del queue.BASE_ATTRIBUTES


def attributes(queue):
    """A queue's attributes; while a message is being sent, without the message counts."""
    if getattr(sending, "active", False):
        return attributes_without_counts(queue)
    return full_attributes(queue)


def without_counts(method):
    def wrapper(*args, **kwargs):
        sending.active = True
        try:
            return method(*args, **kwargs)
        finally:
            sending.active = False

    return wrapper


def get_queue_attributes(backend, queue_name, attribute_names):
    """moto's, but building the attributes once, and counting only when counts are asked for
    (moto's receive asks for the retention period of every message it returns)."""
    queue = backend.get_queue(queue_name)
    counted = "All" in attribute_names or any(n in COUNTS for n in attribute_names)
    built = full_attributes(queue) if counted else attributes_without_counts(queue)
    if "All" in attribute_names:
        return built
    # moto's own check of the names (it raises InvalidAttributeName).
    original_get_queue_attributes(backend, queue_name, [n for n in attribute_names if n not in built])
    return {n: built[n] for n in attribute_names if built.get(n) is not None}


def unix_time_millis(dt=None):
    """moto's, without building a datetime for "now": it is asked once per message per receive."""
    return time.time() * 1000.0 if dt is None else original_unix_time_millis(dt)


sqs_models.Queue.attributes = property(attributes)
sqs_models.SQSBackend.send_message = without_counts(sqs_models.SQSBackend.send_message)
original_get_queue_attributes = sqs_models.SQSBackend.get_queue_attributes
sqs_models.SQSBackend.get_queue_attributes = get_queue_attributes
original_unix_time_millis = sqs_models.unix_time_millis
sqs_models.unix_time_millis = unix_time_millis


def backends(backend_dict):
    """Every backend that exists, without creating new ones (BackendDict creates on lookup)."""
    for account in dict.values(backend_dict):
        yield from dict.values(account)


# (SES message id) -> the Content.Simple.Headers of its SendEmail request.
email_headers = {}


def sent_emails(to):
    for backend in backends(ses_backends):
        for m in backend.sent_messages:
            destinations = getattr(m, "destinations", None)
            if not isinstance(destinations, dict):
                continue  # raw and templated sends: not what the service sends
            recipients = [a for addresses in destinations.values() for a in addresses]
            if to is None or to in recipients:
                yield {
                    "id": m.id,
                    "source": m.source,
                    "to": recipients,
                    "subject": m.subject,
                    "body": m.body,
                    # Moto keeps no headers: the SendEmail request's own, as SES would add them.
                    "headers": email_headers.get(m.id, []),
                }


def sent_sms(to):
    for backend in backends(sns_backends):
        for message_id, (phone_number, message) in backend.sms_messages.items():
            if to is None or to == phone_number:
                yield {"messageId": message_id, "phoneNumber": phone_number, "message": message}


SIMULATOR = re.compile(r"^(success|bounce|complaint|suppressionlist|ooto)(\+[^@]*)?@simulator\.amazonses\.com$", re.I)
EVENT_DESTINATIONS = re.compile(r"^/v2/email/configuration-sets/([^/]+)/event-destinations$")
# (configuration set name) -> [event destination], as CreateConfigurationSetEventDestination took them.
event_destinations = {}
SES_EVENT_DELAY_S = float(os.environ.get("NOTIFY_EMULATOR_SES_EVENT_DELAY_MS", "1000")) / 1000


def iso(at):
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def simulated_events(request, message_id, sent_at):
    """The (event type, event) pairs SES publishes for a simulator address, in order."""
    tags = {"ses:configuration-set": [request.get("ConfigurationSetName", "")], "ses:source-ip": ["127.0.0.1"]}
    for tag in request.get("EmailTags", []):
        tags[tag["Name"]] = [tag["Value"]]
    destination = request.get("Destination", {}).get("ToAddresses", [])
    mail = {
        "timestamp": iso(sent_at),
        "source": request.get("FromEmailAddress", ""),
        "sendingAccountId": "123456789012",
        "messageId": message_id,
        "destination": destination,
        "headersTruncated": False,
        "headers": [],
        "commonHeaders": {"from": [request.get("FromEmailAddress", "")], "to": destination, "messageId": message_id},
        "tags": tags,
    }
    later = iso(datetime.now(timezone.utc))
    delivery = lambda to: ("DELIVERY", {"eventType": "Delivery", "mail": mail, "delivery": {
        "timestamp": later, "processingTimeMillis": 512, "recipients": [to],
        "smtpResponse": "250 2.6.0 Message received", "reportingMTA": "a8-1.smtp-out.amazonses.com"}})
    bounce = lambda to, sub, diagnostic: ("BOUNCE", {"eventType": "Bounce", "mail": mail, "bounce": {
        "feedbackId": str(uuid.uuid4()), "bounceType": "Permanent", "bounceSubType": sub,
        "bouncedRecipients": [{"emailAddress": to, "action": "failed", "status": "5.1.1", "diagnosticCode": diagnostic}],
        "timestamp": later, "reportingMTA": "dsn; a8-1.smtp-out.amazonses.com"}})
    for to in destination:
        kind = SIMULATOR.match(to)
        if not kind:
            continue
        kind = kind.group(1).lower()
        if kind in ("success", "ooto"):
            yield delivery(to)
        elif kind == "bounce":
            yield bounce(to, "General", "smtp; 550 5.1.1 user unknown")
        elif kind == "suppressionlist":
            yield bounce(to, "OnAccountSuppressionList", "Amazon SES did not send the message to this address because it is on the suppression list for your account.")
        elif kind == "complaint":
            yield delivery(to)
            yield ("COMPLAINT", {"eventType": "Complaint", "mail": mail, "complaint": {
                "feedbackId": str(uuid.uuid4()), "complaintSubType": None,
                "complainedRecipients": [{"emailAddress": to}], "timestamp": later,
                "userAgent": "Amazon SES Mailbox Simulator", "complaintFeedbackType": "abuse",
                "arrivalDate": later}})


def publish_events(lock, request, message_id, sent_at):
    """Publishes, under the emulator's lock, what SES would for `request` to its destinations."""
    destinations = event_destinations.get(request.get("ConfigurationSetName"), [])
    with lock:
        for kind, event in simulated_events(request, message_id, sent_at):
            for d in destinations:
                topic = d.get("EventDestination", {}).get("SnsDestination", {}).get("TopicArn")
                enabled = d.get("EventDestination", {}).get("Enabled", True)
                if not topic or not enabled or kind not in d["EventDestination"].get("MatchingEventTypes", []):
                    continue
                _, _, _, region, account, _ = topic.split(":", 5)
                sns_backends[account][region].publish(json.dumps(event), arn=topic)


SMS_SIMULATOR = {"+33755512501": True, "+33755512502": False}
# Every request and every delayed publication runs under this one lock (see Serialized).
LOCK = threading.Lock()


def sms_status_record(message_id, number, delivered, sent_at):
    stamp = sent_at.strftime("%Y-%m-%d %H:%M:%S.") + f"{sent_at.microsecond // 1000:03d}"
    return {
        "notification": {"messageId": message_id, "timestamp": stamp},
        "delivery": {
            "phoneCarrier": "Simulator", "mnc": 1, "mcc": 208, "destination": number,
            "priceInUSD": 0.07, "smsType": "Transactional", "dwellTimeMs": 512,
            "providerResponse": "Message has been accepted by phone carrier" if delivered
            else "Phone is currently unreachable/unavailable",
        },
        "status": "SUCCESS" if delivered else "FAILURE",
    }


def write_sms_status(account, region, record, delivered):
    with LOCK:
        logs = logs_backends[account][region]
        group = f"sns/{region}/{account}/DirectPublishToPhoneNumber" + ("" if delivered else "/Failure")
        if group not in logs.groups:
            logs.create_log_group(group, {})
        stream = str(uuid.uuid4())
        logs.create_log_stream(group, stream)
        logs.put_log_events(group, stream, [{"timestamp": int(time.time() * 1000), "message": json.dumps(record)}])


original_sns_publish = sns_models.SNSBackend.publish


def sns_publish(self, message, arn=None, phone_number=None, *args, **kwargs):
    """moto's, and then, for a simulator number with delivery status logging on, its record."""
    message_id = original_sns_publish(self, message, arn, phone_number, *args, **kwargs)
    delivered = SMS_SIMULATOR.get(phone_number)
    if delivered is not None and self.sms_attributes.get("DeliveryStatusIAMRole"):
        record = sms_status_record(message_id, phone_number, delivered, datetime.now(timezone.utc))
        timer = threading.Timer(SES_EVENT_DELAY_S, write_sms_status,
                                (self.account_id, self.region_name, record, delivered))
        timer.daemon = True
        timer.start()
    return message_id


sns_models.SNSBackend.publish = sns_publish


def read_body(environ):
    """The request body, left readable for the app behind."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def respond(start_response, status, body, content_type="application/json"):
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class Serialized:
    """WSGI middleware that runs one request (and its whole response) at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = LOCK

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_notify/health":
            return respond(start_response, "200 OK", "ok", "text/plain")
        with self.lock:
            if path in ("/_notify/outbox/email", "/_notify/outbox/sms"):
                to = parse_qs(environ.get("QUERY_STRING", "")).get("to", [None])[0]
                items = sent_emails(to) if path.endswith("email") else sent_sms(to)
                return respond(start_response, "200 OK", json.dumps(list(items)))
            destinations = EVENT_DESTINATIONS.match(path)
            if destinations:
                name = unquote(destinations.group(1))
                if environ.get("REQUEST_METHOD") == "POST":
                    event_destinations.setdefault(name, []).append(json.loads(read_body(environ) or b"{}"))
                    return respond(start_response, "200 OK", "{}")
                listed = [{"Name": d.get("EventDestinationName"), **d.get("EventDestination", {})}
                          for d in event_destinations.get(name, [])]
                return respond(start_response, "200 OK", json.dumps({"EventDestinations": listed}))
            if path == "/v2/email/outbound-emails" and environ.get("REQUEST_METHOD") == "POST":
                return self.send_email(environ, start_response)
            return list(self.app(environ, start_response))

    def send_email(self, environ, start_response):
        """SES v2 SendEmail, and then the simulator's events for it."""
        request = json.loads(read_body(environ) or b"{}")
        status = []

        def capture(s, headers, exc_info=None):
            status.append(s)
            return start_response(s, headers, exc_info)

        body = list(self.app(environ, capture))
        if status and status[0].startswith("200"):
            message_id = json.loads(b"".join(body) or b"{}").get("MessageId", "")
            headers = request.get("Content", {}).get("Simple", {}).get("Headers", [])
            email_headers[message_id] = [{"name": h.get("Name"), "value": h.get("Value")} for h in headers]
        if status and status[0].startswith("200") and request.get("ConfigurationSetName") in event_destinations:
            message_id = json.loads(b"".join(body) or b"{}").get("MessageId", "")
            sent_at = datetime.now(timezone.utc)
            timer = threading.Timer(SES_EVENT_DELAY_S, publish_events, (self.lock, request, message_id, sent_at))
            timer.daemon = True
            timer.start()
        return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = Serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
