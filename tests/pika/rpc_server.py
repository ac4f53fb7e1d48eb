"""RabbitMQ tutorial 6's RPC server (pika), for the interoperability test.

Usage: rpc_server.py PORT QUEUE COUNT  -- answers COUNT requests with fib(n).
"""
import sys

import pika

port, queue, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


connection = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=port))
channel = connection.channel()
channel.queue_declare(queue=queue)
channel.basic_qos(prefetch_count=1)
served = 0


def on_request(ch, method, props, body):
    global served
    ch.basic_publish(
        exchange="",
        routing_key=props.reply_to,
        properties=pika.BasicProperties(correlation_id=props.correlation_id),
        body=str(fib(int(body))),
    )
    ch.basic_ack(delivery_tag=method.delivery_tag)
    served += 1
    if served == count:
        ch.stop_consuming()


channel.basic_consume(queue=queue, on_message_callback=on_request)
print("ready", flush=True)
channel.start_consuming()
connection.close()
