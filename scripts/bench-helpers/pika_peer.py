"""The pika side of scripts/bench: what amqpctl is compared with.

    pika_peer.py publish PORT QUEUE N TEXT            basic_publish N times, no confirms
    pika_peer.py confirm PORT QUEUE N TEXT            confirm_delivery(), then N basic_publish
                                                      (BlockingChannel waits for each ack)
    pika_peer.py consume PORT QUEUE N PREFETCH OUT    basic_consume with basic_qos(PREFETCH),
                                                      one multiple ack every PREFETCH/2 (and
                                                      at the last), stop after N

Bodies are `I:TEXT` for I = 1..N, as `amqpctl pub --nb-messages N -m TEXT` sends them.
The consumer writes `Received: BODY` lines to OUT, as `amqpctl con` does.
"""

import sys

import pika


def connect(port):
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=int(port),
        credentials=pika.PlainCredentials("guest", "guest"),
    )
    return pika.BlockingConnection(params)


def publish(port, queue, n, text, confirm):
    conn = connect(port)
    ch = conn.channel()
    if confirm:
        ch.confirm_delivery()
    suffix = b":" + text.encode()
    for i in range(1, int(n) + 1):
        ch.basic_publish(exchange="", routing_key=queue, body=str(i).encode() + suffix)
    conn.close()


def consume(port, queue, n, prefetch, out_path):
    n = int(n)
    conn = connect(port)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=int(prefetch))
    every = max(1, int(prefetch) // 2)
    got = 0
    with open(out_path, "wb") as out:

        def on_message(ch, method, properties, body):
            nonlocal got
            if got >= n:
                return  # arrived after the last one; unacked, it goes back to the queue
            out.write(b"Received: " + body + b"\n")
            got += 1
            if got % every == 0 or got == n:
                out.flush()
                ch.basic_ack(delivery_tag=method.delivery_tag, multiple=True)
            if got >= n:
                ch.stop_consuming()

        ch.basic_consume(queue=queue, on_message_callback=on_message)
        ch.start_consuming()
    conn.close()


def main(argv):
    cmd = argv[1]
    if cmd == "publish":
        publish(*argv[2:6], confirm=False)
    elif cmd == "confirm":
        publish(*argv[2:6], confirm=True)
    elif cmd == "consume":
        consume(*argv[2:7])
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main(sys.argv)
