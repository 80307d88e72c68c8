"""The local AWS-API emulator: moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically, and the workers rely on it: of two
deliveries of one message, only one may claim the notification. moto's stock server handles
requests on parallel threads without locking its backends, so two concurrent conditional
updates of one item can both succeed. Serialising the requests restores the guarantee.
(It also means: never long-poll SQS against it; a waiting ReceiveMessage would hold the lock.)

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
import json
import os
import signal
import sys
import threading
import time
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.ses.models import ses_backends
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
                }


def sent_sms(to):
    for backend in backends(sns_backends):
        for message_id, (phone_number, message) in backend.sms_messages.items():
            if to is None or to == phone_number:
                yield {"messageId": message_id, "phoneNumber": phone_number, "message": message}


def respond(start_response, status, body, content_type="application/json"):
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class Serialized:
    """WSGI middleware that runs one request (and its whole response) at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_notify/health":
            return respond(start_response, "200 OK", "ok", "text/plain")
        with self.lock:
            if path in ("/_notify/outbox/email", "/_notify/outbox/sms"):
                to = parse_qs(environ.get("QUERY_STRING", "")).get("to", [None])[0]
                items = sent_emails(to) if path.endswith("email") else sent_sms(to)
                return respond(start_response, "200 OK", json.dumps(list(items)))
            return list(self.app(environ, start_response))


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
