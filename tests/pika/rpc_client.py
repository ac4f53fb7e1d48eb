"""RabbitMQ tutorial 6's RPC client (pika), for the interoperability test.

Usage: rpc_client.py PORT QUEUE N  -- prints the reply to request N.
"""
import sys
import uuid

import pika

port, queue, n = int(sys.argv[1]), sys.argv[2], sys.argv[3]
connection = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=port))
channel = connection.channel()
callback_queue = channel.queue_declare(queue="", exclusive=True).method.queue
corr_id = str(uuid.uuid4())
response = None


def on_response(ch, method, props, body):
    global response
    if props.correlation_id == corr_id:
        response = body


channel.basic_consume(queue=callback_queue, on_message_callback=on_response, auto_ack=True)
channel.basic_publish(
    exchange="",
    routing_key=queue,
    properties=pika.BasicProperties(reply_to=callback_queue, correlation_id=corr_id),
    body=n,
)
connection.process_data_events(time_limit=30)
while response is None:
    connection.process_data_events(time_limit=30)
print(response.decode())
connection.close()
